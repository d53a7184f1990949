"""Storage: SQLModel tables, the database manager, Alembic migrations."""

from rmnlora.storage.bootstrap import open_db
from rmnlora.storage.database import CrossTenantWriteError, Database, HealthReport, init_db
from rmnlora.storage.models import (
    AdapterRecord,
    AudienceSegment,
    Brand,
    Campaign,
    Feedback,
    PerformanceMetric,
    PlanRun,
    ReflectionLog,
    Retailer,
    SKUCatalog,
    Tenant,
    TenantOwned,
)

__all__ = [
    "AdapterRecord",
    "AudienceSegment",
    "Brand",
    "Campaign",
    "CrossTenantWriteError",
    "Database",
    "Feedback",
    "HealthReport",
    "PerformanceMetric",
    "PlanRun",
    "ReflectionLog",
    "Retailer",
    "SKUCatalog",
    "Tenant",
    "TenantOwned",
    "init_db",
    "open_db",
]
