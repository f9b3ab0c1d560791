# The agents keep their memory in the SDK's sessions, not in Django models.
