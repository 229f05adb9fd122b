"""The audio of an emulator WebRTC call: the model's voice during ``model_says``, and the caller's speech turned
into server VAD events that move the script.

What gathers ICE candidates runs in a private network namespace (tests/webrtc_audio_call.py, a second ``aiortc``
peer as the browser, reporting what it heard and received); the pieces that gather nothing (the VAD's arithmetic,
the call's audio state, the script runner with it, the script format) are checked here, in the test process.
"""

from __future__ import annotations

import array
import math
import threading
from pathlib import Path
from typing import Any

import pytest
from netns import run_in_namespace
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from realtime_service.emulator.call_audio import SAMPLE_RATE, CallAudio, SpeechTurn
from realtime_service.emulator.script_runner import MS_PER_WORD, ChannelClosed, ScriptRunner
from realtime_service.emulator.scripts import Caller, ScriptError, ScriptState, load_script
from realtime_service.emulator.webrtc.vad import SILENT_DBFS, EnergyVad, VadSettings, frame_dbfs, from_session
from realtime_service.emulator.webrtc.voice import LOOP_SAMPLES, voice

HERE = Path(__file__).resolve().parent
WAIT = 10.0
REALTIME_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


# -- a call in the namespace: what the browser heard and what the emulator heard ------------------------------


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """One call: a model turn, then the caller's step waiting for speech, a tone, silence, a second model turn."""
    return run_in_namespace(HERE / "webrtc_audio_call.py")


def test_the_browser_hears_a_voice_during_model_says_and_silence_around_it(report: dict[str, Any]) -> None:
    assert report["frames"]["turn1"] > 50  # the turn's 2.4 s arrived as audio frames (about 120)
    assert report["turn_max_dbfs"] > -30
    assert report["turn_median_dbfs"] > -45
    assert report["silence_max_dbfs"] < -90  # before the first turn: digital silence (-120)
    assert report["between_median_dbfs"] < -90  # after its output_audio_buffer.stopped: silence again
    print(
        f"\nCPU per connected call, both peers in one process: {report['cpu_percent_silence']} % of a core in "
        f"silence, {report['cpu_percent_voice']} % while the model speaks"
    )


def test_output_audio_buffer_events_bracket_each_turn_as_the_sdk_orders_them(report: dict[str, Any]) -> None:
    events = report["events"]
    kinds = [kind for kind, _ in report["response_ids"]]
    assert (
        kinds
        == [
            "response.created",
            "output_audio_buffer.started",
            "response.done",
            "output_audio_buffer.stopped",
        ]
        * 2
    )
    for turn in range(2):  # each pair names its own response
        ids = {response_id for _, response_id in report["response_ids"][4 * turn : 4 * turn + 4]}
        assert len(ids) == 1
    started = events.index("output_audio_buffer.started")
    assert events[started - 1] == "response.content_part.added"  # "emitted after an audio content part has been added"


def test_silence_alone_starts_no_speech_and_the_caller_step_waits_for_speech(report: dict[str, Any]) -> None:
    assert report["waiting_state"] == ["playing", 2, "caller"]
    before = report["events_before_tone"]
    assert not [kind for kind in before if kind.startswith("input_audio_buffer.")]  # 3 s of silence: no speech
    assert "conversation.item.input_audio_transcription.completed" not in before


def test_a_tone_then_silence_is_one_turn_on_the_data_channel_then_the_script_goes_on(report: dict[str, Any]) -> None:
    started, stopped, committed = report["speech"]
    for event in (started, stopped):
        REALTIME_EVENTS.validate_python(event)  # the SDK's shapes
    assert [started["type"], stopped["type"], committed["type"]] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert stopped["audio_end_ms"] - started["audio_start_ms"] >= 500 + 300  # silence_duration_ms + prefix padding
    events = report["events"]
    assert events.index("input_audio_buffer.speech_stopped") < events.index(
        "conversation.item.input_audio_transcription.completed"
    )
    assert report["script_state"] == ["done", None]


def test_a_sideband_of_the_call_hears_the_same_speech_events(report: dict[str, Any]) -> None:
    item = report["speech"][0]["item_id"]
    assert report["sideband"] == [
        ["input_audio_buffer.speech_started", item],
        ["input_audio_buffer.speech_stopped", item],
    ]


def test_a_browser_that_only_sends_audio_gets_the_turns_without_waiting(report: dict[str, Any]) -> None:
    """45 s of speech with no track to send it on: the helper's 30 s deadline would fail had the turn waited."""
    no_audio = report["no_audio"]
    assert no_audio["answer_receives_only"]
    assert no_audio["events"].count("output_audio_buffer.stopped") == 2


# -- the VAD ----------------------------------------------------------------------------------------------------


def pcm(samples: list[int]) -> bytes:
    return array.array("h", samples).tobytes()


def test_frame_dbfs_measures_rms_against_full_scale() -> None:
    assert frame_dbfs(bytes(1920)) == SILENT_DBFS
    assert frame_dbfs(b"") == SILENT_DBFS
    assert frame_dbfs(pcm([32767, -32767] * 480)) == pytest.approx(0.0, abs=0.01)
    sine = [int(6000 * math.sin(2 * math.pi * 440 * n / 48000)) for n in range(960)]
    assert frame_dbfs(pcm(sine)) == pytest.approx(20 * math.log10(6000 / math.sqrt(2) / 32768), abs=0.1)


DEFAULTS = VadSettings()


class Heard:
    def __init__(self, settings: VadSettings | None = DEFAULTS) -> None:
        self.settings = settings
        self.events: list[tuple[str, int]] = []
        self.vad = EnergyVad(lambda: self.settings, self.started, self.stopped)

    def started(self, ms: int) -> None:
        self.events.append(("started", ms))

    def stopped(self, ms: int) -> None:
        self.events.append(("stopped", ms))

    def feed(self, dbfs: float, frames: int) -> None:
        for _ in range(frames):
            self.vad.feed(dbfs, 20.0)


def test_the_vad_starts_after_100_ms_of_speech_and_stops_after_500_ms_of_silence() -> None:
    heard = Heard()
    heard.feed(SILENT_DBFS, 50)  # 1 s of silence
    heard.feed(-45.0, 50)  # quiet, under -40 dBFS
    heard.feed(-20.0, 4)  # 80 ms: a click, not speech
    heard.feed(SILENT_DBFS, 10)
    assert heard.events == []
    heard.feed(-20.0, 5)  # 100 ms from 2.28 s: speech
    assert heard.events == [("started", 2280 - 300)]  # prefix_padding_ms before the speech
    heard.feed(-20.0, 20)
    heard.feed(SILENT_DBFS, 24)  # 480 ms: a pause, not the end
    heard.feed(-20.0, 1)
    heard.feed(SILENT_DBFS, 24)
    assert len(heard.events) == 1
    heard.feed(SILENT_DBFS, 1)
    assert heard.events[1] == ("stopped", int(heard.vad.now_ms))
    assert heard.events[1][1] == 2280 + 100 + 400 + 480 + 20 + 500


def test_the_sessions_turn_detection_sets_the_vad_and_null_turns_it_off() -> None:
    defaults = VadSettings()
    ga = {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 200}}}}
    assert from_session(ga, defaults) == VadSettings(silence_ms=200)
    assert from_session({"turn_detection": {"prefix_padding_ms": 0}}, defaults) == VadSettings(prefix_padding_ms=0)
    assert from_session({"audio": {"input": {"turn_detection": None}}}, defaults) is None
    assert from_session({"type": "realtime"}, defaults) == defaults
    assert from_session(None, defaults) == defaults
    weird = {"turn_detection": {"silence_duration_ms": "long", "prefix_padding_ms": True}}
    assert from_session(weird, defaults) == defaults
    heard = Heard(None)
    heard.feed(-10.0, 100)
    assert heard.events == []


def test_turning_the_vad_off_mid_turn_ends_the_turn() -> None:
    heard = Heard()
    heard.feed(-20.0, 10)
    heard.settings = None
    heard.feed(-20.0, 60)  # re-read after a second of audio
    assert [kind for kind, _ in heard.events] == ["started", "stopped"]


# -- the call's audio: the model's speech and the caller's turns --------------------------------------------


def speaking() -> CallAudio:
    """A call's audio whose peer sends a track."""
    audio = CallAudio()
    audio.has_speaker(True)
    return audio


def test_the_track_takes_exactly_the_speech_queued_and_the_voice_goes_on_where_it_stopped() -> None:
    audio = speaking()
    assert audio.take(960) == (0, 0)
    audio.speak(30)  # 1440 samples
    assert audio.speaking
    assert not audio.wait_spoken(0)
    assert audio.take(960) == (960, 0)
    assert audio.take(960) == (480, 960)
    assert audio.wait_spoken(0)
    assert not audio.speaking
    audio.speak(20)
    assert audio.take(960) == (960, 1440)
    audio.speak(1000)
    audio.clear()
    assert audio.take(960) == (0, 2400)


def test_without_a_track_to_send_on_nothing_is_queued_so_nothing_waits() -> None:
    audio = CallAudio()  # an offer without audio, or one that receives none
    audio.speak(1000)
    assert not audio.speaking
    assert audio.wait_spoken(0)


def test_the_voice_is_loud_enough_to_meter_and_loops_seamlessly() -> None:
    loop = voice(0, LOOP_SAMPLES)
    assert frame_dbfs(loop) > -30
    assert voice(LOOP_SAMPLES - 10, 20) == loop[-20:] + loop[:20]
    assert len(voice(123, 3 * LOOP_SAMPLES)) == 6 * LOOP_SAMPLES


def test_speech_events_reach_every_listener_in_order_before_the_script_takes_the_turn() -> None:
    audio = CallAudio()
    order: list[str] = []
    lock = threading.Lock()

    def listener(name: str) -> Any:
        def hear(event: dict[str, Any]) -> bool:
            with lock:
                order.append(f"{name}:{event['type'].rsplit('_', 1)[1]}")
            return True

        return hear

    def broken(event: dict[str, Any]) -> bool:
        raise RuntimeError("a bug in one connection")

    audio.listen(broken)
    audio.listen(listener("channel"))
    remove = audio.listen(listener("sideband"))
    audio.speech_started(700)
    audio.speech_started(800)  # a turn is under way: not a second one
    audio.speech_stopped(2000)
    turn = audio.next_turn(WAIT)
    assert isinstance(turn, SpeechTurn)
    assert (turn.audio_start_ms, turn.audio_end_ms) == (700, 2000)
    with lock:
        assert order == ["channel:started", "sideband:started", "channel:stopped", "sideband:stopped"]
    remove()
    audio.speech_stopped(2100)  # no turn under way: nothing
    audio.speech_started(3000)
    audio.speech_stopped(3600)
    assert audio.next_turn(WAIT) is not None
    with lock:
        assert order[4:] == ["channel:started", "channel:stopped"]


def test_a_closed_listener_is_dropped_and_closing_the_call_wakes_every_wait() -> None:
    audio = speaking()
    calls: list[str] = []
    audio.listen(lambda event: calls.append(event["type"]) is not None)  # False: its connection is closed
    audio.speech_started(0)
    audio.speech_stopped(900)
    assert audio.next_turn(WAIT) is not None
    audio.speech_started(1000)
    audio.speech_stopped(1900)
    assert audio.next_turn(WAIT) is not None
    assert calls == ["input_audio_buffer.speech_started"]
    audio.speak(60_000)
    woke: list[object] = []
    waiter = threading.Thread(target=lambda: woke.extend([audio.wait_spoken(WAIT), audio.next_turn(WAIT)]))
    waiter.start()
    audio.close()
    waiter.join(WAIT)
    assert woke == [True, None]
    audio.speech_started(0)
    audio.speak(100)
    assert audio.take(960) == (0, 0)
    assert audio.next_turn(0) is None


# -- the script runner with a call's audio ------------------------------------------------------------------


class ListChannel:
    """The runner's channel as a list of what it sent (shared with the call's speech listeners, under a lock)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.changed = threading.Condition()

    def append(self, event: dict[str, Any]) -> bool:
        with self.changed:
            self.sent.append(event)
            self.changed.notify_all()
        return True

    def send(self, event: dict[str, Any]) -> None:
        self.append(event)

    def kinds(self) -> list[str]:
        with self.changed:
            return [event["type"] for event in self.sent]

    def wait_for(self, kind: str) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: any(e["type"] == kind for e in self.sent), WAIT), self.kinds()

    @property
    def connection(self) -> str:
        return "conn"

    def receive(self, timeout: float) -> dict[str, Any] | None:
        raise ChannelClosed

    def close(self, *, abnormal: bool) -> None:
        pass


def play_in_thread(script: Any, audio: CallAudio | None, api: str = "realtime") -> tuple[ListChannel, Any]:
    channel = ListChannel()
    states: list[ScriptState] = []
    runner = ScriptRunner(load_script(script), channel, api=api, audio=audio, on_state=states.append)  # type: ignore[arg-type]
    thread = threading.Thread(target=runner.run)
    thread.start()
    return channel, (thread, states)


def test_model_says_speaks_its_length_and_output_audio_buffer_stopped_waits_for_the_audio() -> None:
    audio = speaking()
    channel, (thread, states) = play_in_thread([{"model_says": "Hello there"}], audio)
    channel.wait_for("response.done")
    samples = 2 * MS_PER_WORD * SAMPLE_RATE // 1000
    assert audio.speaking
    assert "output_audio_buffer.stopped" not in channel.kinds()  # the audio is not sent yet
    taken = 0
    while taken < samples:
        assert "output_audio_buffer.stopped" not in channel.kinds()
        taken += audio.take(960)[0]
    channel.wait_for("output_audio_buffer.stopped")
    thread.join(WAIT)
    assert taken == samples
    kinds = channel.kinds()
    assert kinds.index("response.content_part.added") + 1 == kinds.index("output_audio_buffer.started")
    assert kinds[-2:] == ["response.done", "output_audio_buffer.stopped"]
    for event in channel.sent:
        REALTIME_EVENTS.validate_python(event)
    assert states[-1] == ScriptState("done")


def test_the_calls_end_while_the_model_speaks_fails_the_turn_saying_so() -> None:
    audio = speaking()
    channel = ListChannel()
    states: list[ScriptState] = []
    runner = ScriptRunner(load_script([{"model_says": "A long answer"}]), channel, audio=audio, on_state=states.append)
    thread = threading.Thread(target=runner.run)
    thread.start()
    channel.wait_for("response.done")
    runner.stop()  # a REST hang-up
    thread.join(WAIT)
    assert states[-1] == ScriptState("failed", 0, "model_says", "the call ended while the model spoke")
    assert "output_audio_buffer.stopped" not in channel.kinds()


def test_a_caller_step_waiting_for_speech_goes_on_with_the_vads_turn_only_after_it() -> None:
    audio = CallAudio()
    script = [{"caller": {"text": "Where is my order?", "wait_for_speech": True}}]
    channel, (thread, states) = play_in_thread(script, audio)
    audio.listen(channel.append)  # the call's data channel hears the VAD
    with channel.changed:
        assert not channel.changed.wait_for(lambda: bool(channel.sent), 0.3)  # nothing until the caller spoke
    assert states == [ScriptState("playing", 0, "caller")]
    audio.speech_started(400)
    audio.speech_stopped(1900)
    thread.join(WAIT)
    kinds = channel.kinds()
    assert kinds[:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    assert kinds.count("input_audio_buffer.speech_started") == 1  # the script adds none of its own
    items = {event["item_id"] for event in channel.sent if event["type"].startswith("input_audio_buffer.")}
    assert len(items) == 1
    completed = next(e for e in channel.sent if e["type"].endswith("transcription.completed"))
    assert completed["transcript"] == "Where is my order?"
    assert completed["usage"]["seconds"] == 1.5
    assert states[-1] == ScriptState("done")


def test_a_caller_step_with_no_speech_fails_after_its_timeout_naming_why() -> None:
    audio = CallAudio()
    channel, (thread, states) = play_in_thread(
        [{"caller": {"text": "Hi", "wait_for_speech": True, "timeout": 0.2}}], audio
    )
    thread.join(WAIT)
    assert states[-1] == ScriptState(
        "failed", 0, "caller", "no speech from the caller's audio track within the step's timeout"
    )
    assert channel.kinds() == []


def test_without_a_peer_a_waiting_caller_step_plays_as_it_always_did() -> None:
    channel, (thread, states) = play_in_thread(
        [{"caller": {"text": "Hi", "wait_for_speech": True}}, {"model_says": "Hello"}], None
    )
    thread.join(WAIT)
    kinds = channel.kinds()
    assert kinds[:2] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
    assert not [kind for kind in kinds if kind.startswith("output_audio_buffer.")]
    assert states[-1] == ScriptState("done")


def test_gpt_live_model_says_speaks_too_without_realtime_buffer_events() -> None:
    audio = speaking()
    channel, (thread, states) = play_in_thread([{"model_says": "Hello from Live"}], audio, api="live")
    channel.wait_for("session.output_transcript.delta")
    assert audio.speaking
    assert states[-1] == ScriptState("playing", 0, "model_says")  # the turn lasts as long as its audio
    while audio.speaking:
        audio.take(960)
    thread.join(WAIT)
    assert set(channel.kinds()) == {"session.output_transcript.delta"}
    assert states[-1] == ScriptState("done")


# -- the script format ------------------------------------------------------------------------------------------


def test_the_caller_step_takes_text_or_a_mapping_with_wait_for_speech() -> None:
    assert load_script([{"caller": "Hi"}]) == (Caller("Hi"),)
    assert load_script("- caller: {text: Hi, wait_for_speech: true, timeout: 5}") == (Caller("Hi", True, 5.0),)
    assert load_script([{"caller": {"text": "Hi"}}]) == (Caller("Hi"),)


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ({"wait_for_speech": True}, "text", "is required"),
        ({"text": "Hi", "wait_for_speech": "yes"}, "wait_for_speech", "must be true or false, not a string"),
        ({"text": "Hi", "timeout": 0}, "timeout", "must be more than 0"),
        ({"text": "Hi", "listen": True}, "listen", "unknown field"),
    ],
)
def test_a_bad_caller_mapping_names_its_field(value: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ScriptError) as caught:
        load_script([{"model_says": "Hello"}, {"caller": value}])
    assert (caught.value.index, caught.value.field) == (1, field)
    assert str(caught.value).startswith(f"script step 1 (caller): {field}: {message}")
