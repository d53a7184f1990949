"""The planner: a LangGraph state machine of agents, each gated by reflection (see ``graph``)."""
