"""TensorFlow's start-up lines are held back while keras_vit imports it; everything else reaches stderr."""

import os
import sys

from keras_vit import quiet_start


def test_the_c_plus_plus_loggers_info_lines_are_held_back_and_other_lines_pass(monkeypatch, capfd):
    monkeypatch.delenv(quiet_start.LEVEL_VARIABLE, raising=False)
    monkeypatch.setattr(quiet_start, "STARTUP_LINES", [])
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as before TensorFlow's first import
    info = "I0000 00:00:1796186171.086472   12097 port.cc:153] oneDNN custom operations are on.\n"
    absl = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    with quiet_start.quiet_tensorflow_start():
        os.write(2, (absl + info + "a real problem\n").encode())
    assert capfd.readouterr().err == "a real problem\n"
    assert quiet_start.STARTUP_LINES == [absl, info]
    assert os.environ[quiet_start.LEVEL_VARIABLE] == "2"


def test_a_level_the_user_chose_leaves_stderr_alone(monkeypatch, capfd):
    monkeypatch.setenv(quiet_start.LEVEL_VARIABLE, "0")
    info = "I0000 00:00:1796186171.087167   12097 cudart_stub.cc:31] Could not find cuda drivers.\n"
    with quiet_start.quiet_tensorflow_start():
        os.write(2, info.encode())
    assert capfd.readouterr().err == info
