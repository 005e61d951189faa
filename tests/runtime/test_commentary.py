import pytest

from runtime.commentary import describe
from runtime.events import ModelCalled, ToolCallDenied, ToolObserved, VerificationRan
from runtime.settings import TraceMode


def read(path="src/app.py", start=1, end=40, **extra):
    return ToolObserved(
        call_id=1,
        tool_name="read",
        arguments={"path": path},
        path=path,
        start_line=start,
        end_line=end,
        output="x = 1",
        output_bytes=5,
        **extra,
    )


def test_a_read_names_the_file_and_lines_but_never_the_content():
    line = describe(read(), TraceMode.SUMMARY)
    assert line == "reading src/app.py lines 1-40"
    assert "x = 1" not in line


def test_a_denial_says_why_in_plain_words():
    denial = ToolCallDenied(
        call_id=2,
        tool_name="read",
        arguments={"path": ".env"},
        reason_code="secret_path",
        message="no",
    )
    assert describe(denial, TraceMode.SUMMARY) == "denied .env: secret path"


def test_verification_names_the_program_not_the_machine_path():
    ran = VerificationRan(
        argv=["/some/where/.venv/bin/python", "-m", "pytest"], exit_code=0, duration_ms=5.0
    )
    assert describe(ran, TraceMode.SUMMARY) == "verification python -m pytest: exit 0"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (TraceMode.OFF, None),
        (TraceMode.SUMMARY, None),
        (TraceMode.DETAILED, "model call 3 answered by kimi-k2.6"),
    ],
)
def test_model_calls_show_only_in_detailed_mode(mode, expected):
    called = ModelCalled(call_index=3, model="kimi-k2.6", profile="kimi", outcome="ok")
    assert describe(called, mode) == expected


def test_off_mode_is_silent_for_everything():
    assert describe(read(), TraceMode.OFF) is None


def test_long_lines_are_clipped():
    line = describe(read(path="a/" * 200 + "f.py"), TraceMode.SUMMARY)
    assert len(line) == 160 and line.endswith("…")
