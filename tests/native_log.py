"""What MediaPipe's native side prints on fd 2, for the tests that check none of it reaches the user's terminal."""

from __future__ import annotations

import re

# glog / absl lines (``W0000 00:00:... file.cc:123] ...``) and TF Lite's INFO lines
NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |TensorFlow Lite|XNNPACK|absl::InitializeLog|inference_feedback|\.cc:\d+\]",
                        re.MULTILINE)
