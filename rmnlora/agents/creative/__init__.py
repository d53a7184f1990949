"""Creative agent: ad copy per retailer format, from the LoRA-composed model or templates."""

from rmnlora.agents.creative.formats import FormatSpecError, load_format_spec, load_format_specs
from rmnlora.agents.creative.generate import CreativeError, generate_copy
from rmnlora.agents.creative.parsing import clean_copy, parse_copy
from rmnlora.agents.creative.prompts import build_messages
from rmnlora.agents.creative.ranking import likelihood_from_metadata, rank_candidates
from rmnlora.agents.creative.templates import template_copies

__all__ = [
    "CreativeError",
    "FormatSpecError",
    "build_messages",
    "clean_copy",
    "generate_copy",
    "likelihood_from_metadata",
    "load_format_spec",
    "load_format_specs",
    "parse_copy",
    "rank_candidates",
    "template_copies",
]
