"""The console script: run as a user would (a subprocess), and in process for bad values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def listenin(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "listenin", *args], capture_output=True, text=True, timeout=timeout
    )


def test_transcribe_jsonl(call1):
    p = call1["paths"]
    r = listenin(
        "transcribe",
        "--party",
        f"agent={p['agent']}",
        "--party",
        f"customer={p['customer']}",
        "--format",
        "jsonl",
    )
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    finals = [e for e in events if e["type"] == "transcript.final"]
    assert {e["party"] for e in finals} == {"agent", "customer"}
    for e in finals:
        assert {
            "call_id",
            "party",
            "segment_id",
            "start",
            "end",
            "text",
            "emitted_at",
            "words",
        } <= set(e)
    assert events[-1]["type"] == "call.ended"


def test_transcribe_goes_through_the_configured_outputs(tmp_path):
    """A recording gets what a live call gets from --config: here an [[alerts]] rule."""
    pcm, rate = sf.read(ROOT / "fixtures" / "call2_agent.wav", dtype="int16")
    wav = tmp_path / "agent.wav"
    sf.write(wav, pcm[: 12 * rate], rate)  # "You are about to enter an echo test..."
    config = tmp_path / "listenin.toml"
    config.write_text('[[alerts]]\nname = "echo"\nphrases = ["echo test"]\n')
    r = listenin("transcribe", "--party", f"agent={wav}", "--format", "jsonl", "--config",
                 str(config))  # fmt: skip
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    (alert,) = [e for e in events if e["type"] == "alert"]
    assert alert["rule"] == "echo" and alert["party"] == "agent"
    assert events[-1]["type"] == "call.ended"


def test_transcribe_text_resamples_any_rate(tmp_path, call1):
    pcm = call1["audio"]["agent"][: 8000 * 5]
    wav = tmp_path / "a.flac"
    import soxr

    sf.write(wav, soxr.resample(pcm.astype(np.float32) / 32768, 8000, 44100), 44100)
    r = listenin("transcribe", "--party", f"agent={wav}")
    assert r.returncode == 0, r.stderr
    assert "agent:" in r.stdout and "Thank" in r.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.zeros((800, 2), np.int16), 8000)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00garbage")
    cases = [
        (["transcribe", "--party", "agent=/nonexistent.wav"], "no such file"),
        (["transcribe", "--party", f"agent={stereo}"], "2 channels"),
        (["transcribe", "--party", f"agent={garbage}"], "unreadable audio"),
        (["transcribe", "--party", f"agent={stereo}", "--party", f"agent={stereo}"], "unique"),
        (["transcribe"], "at least one --party"),
        (["transcribe", "--party", f"a={stereo}", "--model", "nope"], None),
    ]
    for args, needle in cases:
        r = listenin(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        if needle:
            assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_unknown_model_is_reported_before_reading(call1):
    r = listenin("transcribe", "--party", f"agent={call1['paths']['agent']}", "--model", "nope")
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr


def test_models_lists_the_registry():
    r = listenin("models")
    assert r.returncode == 0 and "tiny.en" in r.stdout and "base" in r.stdout


def test_help_mentions_the_commands():
    r = listenin("--help")
    assert r.returncode == 0
    for cmd in ("transcribe", "models", "demo"):
        assert cmd in r.stdout


def test_transcribe_mixed_labels_speakers(tmp_path):
    from listenin.replay import load_party, mix_parties
    from tests.conftest import FIXTURES

    ref = json.loads((FIXTURES / "call2.json").read_text())
    mixed = mix_parties([load_party(p, FIXTURES / f) for p, f in ref["parties"].items()])
    wav = tmp_path / "mixed.wav"
    sf.write(wav, mixed.pcm[8000 * 15 : 8000 * 34], 8000)  # the agent's end, then the customer
    r = listenin("transcribe", "--mixed", str(wav), "--first-speaker", "agent")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("] ")[1].startswith("agent: ")
    assert any(line.split("] ")[1].startswith("customer: ") for line in lines[1:]), lines
    bad = listenin("transcribe", "--mixed", str(wav), "--party", f"agent={wav}")
    assert bad.returncode == 2 and "not both" in bad.stderr


# -- in process: bad values are refused before anything starts -------------------------
BAD_VALUES = [
    (["run", "--registrar", "notauri"], "not a sip: URI"),
    (["demo", "--fixture", "nope"], "no bundled fixture 'nope'"),
    (["transcribe", "--mixed", "x.wav", "--model", "base", "--language", "klingon"], "klingon"),
    (["transcribe", "--mixed", "x.wav", "--model", "tiny.en", "--language", "fr"], "English only"),
    (["run", "--trust", "not-an-address"], "not-an-address"),
    (["run", "--partial-interval-ms", "50"], "--partial-interval-ms must be 0"),
    (["transcribe", "--mixed", "x.wav", "--min-encode-ms", "40000"], "--min-encode-ms must be"),
    (["run", "--max-calls", "0"], "--max-calls must be 1..256"),
    (["run", "--front", "none", "--max-calls", "8"], "more than 4 calls need a device process"),
    (["run", "--trust", "10.0.0.0/33"], "10.0.0.0/33"),
    (["demo", "--seconds", "0"], "--seconds must be > 0"),
    (["demo", "--seconds", "-5"], "--seconds must be > 0"),
    (["transcribe", "--mixed", "x.wav", "--call-id", ""], "--call-id must not be empty"),
    (
        ["run", "--tls-port", "5071", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/x"],
        "--tls-cert: cannot read /nonexistent/c.pem (No such file or directory)",
    ),
    (
        ["run", "--sip-port", "0", "--rtp-port", "0", "--ws-port", "70000"],
        "--ws-port: port must be 0-65535, got 70000",
    ),
    (
        ["run", "--sip-port", "0", "--rtp-port", "0", "--ws-host", ""],
        "--ws-host: host must not be empty",
    ),
    (
        ["run", "--sip-port", "0", "--rtp-port", "0", "--no-server", "--archive", ""],
        "--archive: expected a folder, got an empty path",
    ),
    (["run", "--front-source", "127.0.0.1"], "front source '127.0.0.1' must be IP:PORT"),
    (
        [
            "run",
            "--front",
            "kamailio",
            "--tls-port",
            "5061",
            "--tls-cert",
            "/etc/hostname",
            "--tls-key",
            "/etc/hostname",
        ],
        "TLS is not carried by the SIP front",
    ),  # fmt: skip
    (["run", "--print-front-config", "--bind", "pbx.example.com"], "needs an IP address"),
    (["run", "--print-front-config", "--front-requests", "0"], "pike_requests"),
    (
        ["transcribe", "--mixed", "x.wav", "--compute-type", "bogus"],
        "ASR compute type 'bogus' is not supported on cpu (supported: ",
    ),
]


@pytest.mark.parametrize(("argv", "needle"), BAD_VALUES, ids=lambda v: " ".join(v))
def test_bad_value_is_one_error_line_and_exit_2(argv, needle, capsys):
    from listenin.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("listenin: error: "), err
    assert needle in err[0]


def test_unwritable_archive_is_refused_at_start(tmp_path, capsys):
    from listenin.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "--no-server", "--archive", str(blocker / "calls")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "listenin: error: --archive: cannot create folder "
    ), err


def test_verbose_after_the_sub_command_and_codecs_in_one_flag():
    from listenin.cli import build_parser
    from listenin.options import device_config

    parser = build_parser()
    args = parser.parse_args(["-v", "transcribe", "-v", "--mixed", "x.wav"])
    assert args.verbose + args.sub_verbose == 2
    assert parser.parse_args(["run", "-vv"]).sub_verbose == 2
    one = parser.parse_args(["run", "--codec", "PCMA", "PCMU"])
    repeated = parser.parse_args(["run", "--codec", "PCMA", "--codec", "PCMU"])
    assert (
        device_config(one).media.codecs
        == device_config(repeated).media.codecs
        == (
            "PCMA",
            "PCMU",
        )
    )
    assert device_config(parser.parse_args(["run"])).media.codecs == ("PCMU", "PCMA", "G722")


def test_sip_port_in_use_is_one_error_line(capsys):
    import socket

    from listenin.cli import main

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        assert main(["run", "--no-server", "--sip-port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"SIP UDP port 127.0.0.1:{port}" in err[0], err


def test_rtp_ports_are_random_in_a_range_by_default_and_the_gate_is_on():
    from listenin.cli import build_parser
    from listenin.options import CliError, device_config

    parser = build_parser()
    cfg = device_config(parser.parse_args(["run"]))
    t = cfg.transport
    assert (t.rtp_port, t.rtp_port_min, t.rtp_port_max) == (None, 16384, 32767)
    assert cfg.media.rtp_gate.enabled
    cfg = device_config(
        parser.parse_args(
            ["run", "--rtp-port", "40000", "--rtp-ports", "20000-20999", "--no-rtp-gate"]
        )  # fmt: skip
    )
    t = cfg.transport
    assert (t.rtp_port, t.rtp_port_min, t.rtp_port_max) == (40000, 20000, 20999)
    assert not cfg.media.rtp_gate.enabled
    for bad in ("20000", "20000-20001", "x-y", "80-2000"):
        with pytest.raises(CliError):
            device_config(parser.parse_args(["run", "--rtp-ports", bad]))


def test_print_front_config_is_the_front_listenin_would_run(capsys):
    import shutil

    from listenin.cli import main
    from softphone.kamailio import check_config

    argv = ["run", "--print-front-config", "--bind", "192.0.2.10", "--sip-port", "5060"]
    assert main([*argv, "--trust", "10.0.0.0/8", "--front-requests", "12"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("#!KAMAILIO\n")
    assert "listen=udp:192.0.2.10:5060\n" in text and "listen=udp:127.0.0.1:5061\n" in text
    assert 'is_in_subnet("$si", "10.0.0.0/8")' in text and "127.0.0.1/32" not in text
    assert 'modparam("pike", "reqs_density_per_unit", 12)' in text
    listing = text.split(" (without the '# '):\n", 1)[1]
    devices = "".join(line[2:] + "\n" for line in listing.splitlines())
    # 8 calls per core by default: a device process per 4
    assert devices.count(" sip:127.0.0.1:") == -(-8 * (os.cpu_count() or 1) // 4), devices
    assert "1 sip:127.0.0.1:5062 0 0 socket=udp:127.0.0.1:5061" in devices
    if shutil.which("kamailio"):
        assert check_config(text, devices=devices) is None


NO_CUDA = pytest.mark.skipif(
    __import__("ctranslate2").get_cuda_device_count() > 0, reason="this machine has a CUDA device"
)


@NO_CUDA
@pytest.mark.parametrize("command", ["transcribe", "run", "demo"])
def test_cuda_without_a_cuda_device_is_one_error_line(command, capsys):
    from listenin.cli import main

    argv = [command, "--asr-device", "cuda", "--no-server"] if command != "transcribe" else [
        command, "--mixed", "x.wav", "--asr-device", "cuda"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "listenin: error: ASR device 'cuda': no CUDA device is visible to CTranslate2 "
        "on this machine (use cpu or auto)"
    ]


@NO_CUDA
def test_asr_device_auto_is_cpu_here_and_decodes(call1):
    r = listenin(
        "-v", "transcribe", "--party", f"agent={call1['paths']['agent']}", "--asr-device", "auto"
    )
    assert r.returncode == 0, r.stderr
    assert "agent:" in r.stdout
    assert r.stderr.count("ASR device auto: cpu") == 1, r.stderr


def test_asr_options_default_to_cpu_int8():
    from listenin.cli import build_parser
    from listenin.options import check_asr

    args = build_parser().parse_args(["transcribe", "--mixed", "x.wav"])
    assert (args.asr_device, args.compute_type) == ("cpu", None)
    check_asr(args)
    assert (args.asr_device, args.compute_type) == ("cpu", "int8")


def test_music_check_and_encode_floor_are_options():
    from listenin.cli import build_parser
    from listenin.options import pipeline_config

    parser = build_parser()
    args = parser.parse_args(["transcribe", "--mixed", "x.wav"])
    assert pipeline_config(args).stream.vad.music.enabled and args.min_encode_ms == 15000
    args = parser.parse_args(["run", "--keep-music", "--min-encode-ms", "0"])
    assert not pipeline_config(args).stream.vad.music.enabled and args.min_encode_ms == 0


def test_load_limits_default_to_3_s_of_lag_and_two_finals_per_worker():
    from listenin.cli import build_parser
    from listenin.options import CliError, load_config

    parser = build_parser()
    cfg = load_config(parser.parse_args(["run", "--workers", "3"]))
    assert (cfg.max_lag_ms, cfg.max_queued_finals) == (3000, 6)
    argv = ["run", "--max-asr-lag-ms", "0", "--max-queued-finals", "10"]
    cfg = load_config(parser.parse_args(argv))
    assert (cfg.max_lag_ms, cfg.max_queued_finals) == (0, 10)
    with pytest.raises(CliError):
        load_config(parser.parse_args(["run", "--max-asr-lag-ms", "-1"]))


@pytest.mark.parametrize("command", ["demo", "run"])
def test_every_live_command_has_load_limits(command):
    from listenin.cli import build_parser
    from listenin.options import load_config

    cfg = load_config(build_parser().parse_args([command]))
    assert cfg.max_lag_ms == 3000 and cfg.max_queued_finals >= 1


def test_demo_runs_a_call_over_sip_end_to_end():
    """What `make demo` runs: the simulator calls the device, the transcript is printed."""
    r = listenin("demo", "--seconds", "8", "--no-server")  # the device takes a free port
    assert r.returncode == 0, r.stderr[-2000:]
    # the default fixture is the real-speech call2: its agent opens with the echo test
    assert "agent:" in r.stdout and "echo test" in r.stdout.lower(), r.stdout
