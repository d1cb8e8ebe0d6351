"""Settings for the whole suite."""

from hypothesis import settings

# Property tests check what holds, not how fast: on a busy CI machine a slow example is
# not a failure (speed is measured in bench/).
settings.register_profile("vigie", deadline=None)
settings.load_profile("vigie")
