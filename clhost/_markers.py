"""The pluggy markers, so plugin authors never import pluggy themselves."""

import pluggy

PROJECT_NAME = "clhost"
HOOK_PREFIX = "clhost_"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
