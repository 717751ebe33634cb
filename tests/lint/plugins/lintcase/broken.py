"""An action module whose import fails, as a plugin with a missing dependency would."""

import lintcase_missing_dependency  # noqa: F401
