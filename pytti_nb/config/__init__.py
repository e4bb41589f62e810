"""Settings: the schema (every fact about a setting), reading and writing settings, the whole-run plan, PyTTI import and sharing."""
