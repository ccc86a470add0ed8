"""Dialplans: operators' YAML describing, per phone number, who the agent is and what it can do."""
