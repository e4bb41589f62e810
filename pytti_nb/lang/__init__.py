"""The languages artists write in: prompts, expressions and schedules of time."""
