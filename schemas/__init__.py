"""Pydantic models shared by workflows, activities, the CLI and other systems."""
