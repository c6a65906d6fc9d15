"""The HTTP gateway: the one door for systems that do not speak Temporal (`appraisal gateway`)."""
