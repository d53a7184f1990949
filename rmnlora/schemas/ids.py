"""The one rule for ids people choose (tenants, brands): what `rmn` accepts everywhere.

Why one rule: an id becomes a database key, a folder name (adapters, exports) and part of URLs, so
"../../Evil Tenant" must be refused by every entry point, not by some of them.
"""

from __future__ import annotations

import re

RESOURCE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
RESOURCE_ID = re.compile(RESOURCE_ID_PATTERN)
RESOURCE_ID_RULE = "1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
