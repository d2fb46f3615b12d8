import struct

import numpy as np

from pbxsim.pcap import Impairment, schedule, write_pcap


def test_clean_schedule_is_every_20_ms_in_order():
    assert schedule(3, Impairment()) == [(0.0, 0), (0.02, 1), (0.04, 2)]


def test_impaired_schedule_loses_and_reorders_about_the_asked_share():
    sent = schedule(5000, Impairment(40, 20, loss=0.03, reorder=0.03, seed=3))
    order = [n for _, n in sent]
    assert 0.02 < 1 - len(sent) / 5000 < 0.04
    assert sum(b < a for a, b in zip(order, order[1:], strict=False)) > 0.03 * len(order)
    times = [t for t, _ in sent]
    assert times == sorted(times)


def test_pcap_has_one_record_per_sent_packet(tmp_path):
    path = tmp_path / "a.pcap"
    n = write_pcap(path, np.zeros(1600, np.int16))
    data = path.read_bytes()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4 and n == 10
    rec = 24
    caplen = struct.unpack("<I", data[rec + 8 : rec + 12])[0]
    assert caplen == 14 + 20 + 8 + 12 + 160  # Ethernet + IPv4 + UDP + RTP + PCMU
    assert len(data) == 24 + n * (16 + caplen)
