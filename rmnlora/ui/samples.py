"""Sample prompts for the free-prompt tasks (plan explanations); ad copy is asked as a brief instead."""

from __future__ import annotations

SAMPLE_PROMPTS: dict[str, tuple[str, ...]] = {
    "plan_explanation": (
        "Explain to a brand manager why most of the {brand} budget goes to the retailer with the "
        "highest marginal ROAS.",
        "Explain in two sentences why the {brand} plan holds out 20% of stores as a control group.",
        "Explain why the {brand} plan caps any single retailer at 50% of the budget.",
    ),
}


def sample_prompts(task: str, brand_name: str) -> list[str]:
    return [template.format(brand=brand_name) for template in SAMPLE_PROMPTS.get(task, ())]
