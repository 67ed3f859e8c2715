"""csv_drop feeds on real folders and files: taking a file whole and once, files still being
written, the same file twice (also across a restart), a file left by a crash, Excel's
encodings, UK times across the 2026 clock changes, rows and files that cannot be read, the
checks of the entry in feeds.yaml; a poll through the poller into the real store."""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds import csv_drop
from feeds.base import Feed
from feeds.config import FeedContext, load_feeds
from feeds.csv_drop import CsvDropFeed, Layout, Unreadable, parse_time, read_csv
from feeds.poller import FeedPoller
from surge.catalogue import Catalogue
from surge.clock import Clock
from surge.errors import ConfigError, FetchFailed
from surge.samples import Rejection
from surge.store import Store

NOW = float(int(time.time()))
LONDON = ZoneInfo("Europe/London")
# pts metrics of surge_rules.yaml, reported for the trust and for PTS zones (PTS-N, -C, -S)
ON_TIME = "pts.on_time_pct"  # %, range [0, 100]
DISCHARGES = "pts.discharges_over_2h"  # patients, range [0, 500]

EXPORT = {"ts": "Date/Time", "metric": "Measure", "scope": "Site", "value": "Value"}
HEADER = "Date/Time,Measure,Site,Value\r\n"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def uk(ts: float) -> str:
    """A time as the PTS export writes it: UK local time, day first."""
    return datetime.fromtimestamp(ts, LONDON).strftime("%d/%m/%Y %H:%M:%S")


class Wall:
    """The real time the feed judges files' ages by, moved on by the test."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


def drop_feed(tmp_path: Path, layout: Layout | None = None, **options) -> CsvDropFeed:
    """A feed on ``tmp_path/drop`` reading the PTS export's columns; files are taken as soon
    as they are seen unless ``settle`` says otherwise."""
    folder = tmp_path / "drop"
    folder.mkdir(exist_ok=True)
    options.setdefault("settle", 0.0)
    return CsvDropFeed("pts-export", "pts", 60.0, 10.0, folder,
                       tmp_path / "var" / "feeds" / "pts-export", layout or Layout(EXPORT),
                       **options)


def rows_of(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(row + "\r\n" for row in rows)).encode()


def samples(items) -> list[tuple]:
    return [(i["metric"], i["scope"], i["ts"], i["value"]) for i in items
            if not isinstance(i, Rejection)]


def rejections(items) -> list[Rejection]:
    return [i for i in items if isinstance(i, Rejection)]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- taking files ----------------------------------------------------------------------


def test_a_complete_file_is_taken_whole_read_and_moved_to_done(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    path = feed.folder / "pts-0900.csv"
    path.write_bytes(rows_of(f"{uk(NOW - 60)},{ON_TIME},PTS-N,91.5",
                             f"{uk(NOW - 60)},{DISCHARGES},trust,12"))
    inode = path.stat().st_ino
    got = list(feed.fetch(None, NOW))
    assert samples(got) == [(ON_TIME, "PTS-N", NOW - 60, 91.5),
                            (DISCHARGES, "trust", NOW - 60, 12.0)]
    where = [(g["file"], g["line"]) for g in got if not isinstance(g, Rejection)]
    assert where == [("pts-0900.csv", 2), ("pts-0900.csv", 3)]
    assert names(feed.folder) == ["done", "failed", "processing"]
    assert names(feed.folder / "done") == ["pts-0900.csv"]
    assert (feed.folder / "done" / "pts-0900.csv").stat().st_ino == inode  # renamed, not copied
    assert list(feed.fetch(None, NOW)) == []  # nothing new


def test_a_file_still_being_written_is_left_alone_until_it_is_complete(tmp_path: Path) -> None:
    wall = Wall()
    feed = drop_feed(tmp_path, settle=10.0, wall=wall)
    path = feed.folder / "pts.csv"
    path.write_bytes(rows_of(f"{uk(NOW)},{ON_TIME},PTS-C,90"))
    assert list(feed.fetch(None, NOW)) == []  # written just now
    assert path.exists() and names(feed.folder / "processing") == []
    with open(path, "ab") as out:  # the export goes on writing
        out.write(f"{uk(NOW)},{ON_TIME},PTS-S,80\r\n".encode())
    wall.ahead = 60.0
    assert list(feed.fetch(None, NOW)) == []  # quiet long enough, but changed since last look
    assert path.exists()
    got = list(feed.fetch(None, NOW))  # quiet, and as it was at the last look
    assert [s[1] for s in samples(got)] == ["PTS-C", "PTS-S"] and not path.exists()


def test_a_copy_that_keeps_an_old_modification_time_still_waits(tmp_path: Path) -> None:
    """cp -p, rsync and Windows copies set the source's modification time: the change time,
    which nothing can set back, shows the file is being written now."""
    feed = drop_feed(tmp_path, settle=10.0, wall=Wall())
    path = feed.folder / "pts.csv"
    path.write_bytes(rows_of(f"{uk(NOW)},{ON_TIME},PTS-C,90"))
    os.utime(path, (NOW - 3600, NOW - 3600))
    assert list(feed.fetch(None, NOW)) == [] and path.exists()


def test_dot_files_partial_files_lock_files_and_other_names_are_never_taken(
        tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    content = rows_of(f"{uk(NOW)},{ON_TIME},trust,90")
    for name in (".pts.csv", "pts.csv.tmp", "pts.csv.part", "~$pts.csv", "pts.txt", "README"):
        (feed.folder / name).write_bytes(content)
    (feed.folder / "subfolder.csv").mkdir()
    (feed.folder / "PTS-EXPORT.CSV").write_bytes(content)  # the pattern matches in any case
    assert len(samples(feed.fetch(None, NOW))) == 1
    assert names(feed.folder / "done") == ["PTS-EXPORT.CSV"]
    assert len(names(feed.folder)) == 10  # the six left alone, the folder, the three made


def test_a_pattern_chooses_the_files(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path, pattern="pts_*.txt")
    content = rows_of(f"{uk(NOW)},{ON_TIME},trust,90")
    (feed.folder / "pts_1.txt").write_bytes(content)
    (feed.folder / "pts_1.csv").write_bytes(content)
    feed.fetch(None, NOW)
    assert names(feed.folder / "done") == ["pts_1.txt"] and (feed.folder / "pts_1.csv").exists()


def test_the_same_content_under_another_name_is_not_read_twice_even_after_a_restart(
        tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    content = rows_of(f"{uk(NOW)},{ON_TIME},PTS-N,88")
    (feed.folder / "monday.csv").write_bytes(content)
    assert len(samples(feed.fetch(None, NOW))) == 1
    (feed.folder / "monday-again.csv").write_bytes(content)
    assert list(feed.fetch(None, NOW)) == []
    feed.close()
    restarted = drop_feed(tmp_path)  # a new feed on the same state on disk
    (feed.folder / "monday-third.csv").write_bytes(content)
    (feed.folder / "tuesday.csv").write_bytes(rows_of(f"{uk(NOW)},{ON_TIME},PTS-N,87"))
    assert samples(restarted.fetch(None, NOW)) == [(ON_TIME, "PTS-N", NOW, 87.0)]
    assert names(feed.folder / "done") == ["monday-again.csv.duplicate",
                                           "monday-third.csv.duplicate", "monday.csv",
                                           "tuesday.csv"]
    assert restarted.state_path == tmp_path / "var/feeds/pts-export/seen.sqlite3"


def test_two_copies_in_one_poll_are_read_once(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    content = rows_of(f"{uk(NOW)},{ON_TIME},PTS-N,88")
    (feed.folder / "a.csv").write_bytes(content)
    (feed.folder / "b.csv").write_bytes(content)
    assert len(samples(feed.fetch(None, NOW))) == 1
    assert len([n for n in names(feed.folder / "done") if n.endswith(".duplicate")]) == 1


def test_a_name_used_again_with_new_content_is_read_and_kept_beside_the_first(
        tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    for value in (88, 87, 86):
        (feed.folder / "pts.csv").write_bytes(rows_of(f"{uk(NOW)},{ON_TIME},PTS-N,{value}",
                                                      "not a time,x,y,z"))
        assert len(samples(feed.fetch(None, NOW))) == 1
    assert names(feed.folder / "done") == [
        "pts.1.csv", "pts.1.csv.rejected.csv", "pts.2.csv", "pts.2.csv.rejected.csv",
        "pts.csv", "pts.csv.rejected.csv"]


def test_a_file_left_in_processing_by_a_crash_is_read_at_the_next_start(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    feed.fetch(None, NOW)  # makes the subfolders
    processing = feed.folder / "processing"
    (processing / "pts.csv").write_bytes(rows_of(f"{uk(NOW)},{ON_TIME},PTS-S,70"))
    assert samples(drop_feed(tmp_path).fetch(None, NOW)) == [(ON_TIME, "PTS-S", NOW, 70.0)]
    assert names(processing) == [] and names(feed.folder / "done") == ["pts.csv"]


def test_a_crash_after_the_hashes_were_noted_reads_the_file_again_not_as_a_duplicate(
        tmp_path: Path) -> None:
    """Stopped between noting a file and moving it: its rows may not have reached the
    store, so it is read again (the store ignores rows it has). Another file with that
    content left in processing/ is a duplicate."""
    feed = drop_feed(tmp_path)
    content = rows_of(f"{uk(NOW)},{ON_TIME},PTS-S,70")
    (feed.folder / "pts.csv").write_bytes(content)
    feed.fetch(None, NOW)
    processing = feed.folder / "processing"
    os.rename(feed.folder / "done" / "pts.csv", processing / "pts.csv")  # as if never moved
    (processing / "copy.csv").write_bytes(content)
    again = drop_feed(tmp_path).fetch(None, NOW)
    assert samples(again) == [(ON_TIME, "PTS-S", NOW, 70.0)]
    assert names(feed.folder / "done") == ["copy.csv.duplicate", "pts.csv"]


def test_a_poll_stops_taking_files_past_max_bytes_and_the_rest_wait(tmp_path: Path) -> None:
    content = [rows_of(f"{uk(NOW + i)},{ON_TIME},PTS-N,{80 + i}") for i in range(3)]
    feed = drop_feed(tmp_path, max_bytes=len(content[0]) + len(content[1]) - 1)
    for i, data in enumerate(content):
        (feed.folder / f"pts-{i}.csv").write_bytes(data)
        os.utime(feed.folder / f"pts-{i}.csv", (NOW - 100 + i, NOW - 100 + i))
    assert [s[3] for s in samples(feed.fetch(None, NOW))] == [80.0]  # oldest first
    assert [s[3] for s in samples(feed.fetch(None, NOW))] == [81.0]
    assert [s[3] for s in samples(feed.fetch(None, NOW))] == [82.0]


def test_a_folder_that_is_gone_fails_the_poll(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    shutil.rmtree(feed.folder)
    with pytest.raises(FetchFailed, match="does not exist"):
        feed.fetch(None, NOW)


def test_a_damaged_state_file_fails_the_poll_and_leaves_the_file_to_read_later(
        tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    feed.state_path.parent.mkdir(parents=True)
    feed.state_path.write_bytes(b"this is not a database" * 100)
    (feed.folder / "pts.csv").write_bytes(rows_of(f"{uk(NOW)},{ON_TIME},PTS-S,70"))
    with pytest.raises(FetchFailed, match=r"seen\.sqlite3, cannot be used: file is not a "
                                          r"database .*move it away"):
        feed.fetch(None, NOW)
    assert names(feed.folder / "processing") == ["pts.csv"]
    feed.state_path.unlink()
    assert len(samples(drop_feed(tmp_path).fetch(None, NOW))) == 1


# --- what a file holds --------------------------------------------------------------------


def test_excel_utf8_with_a_bom_crlf_and_loosely_written_headers(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    text = (" date/time , MEASURE,site,Value  ,Notes\r\n"
            f"{uk(NOW)},{ON_TIME},PTS-N,\"1,0\",fine\r\n"  # (a decimal comma is not a number)
            f"{uk(NOW)},{DISCHARGES},PTS-N,\"1,234\",crew at Derriford\r\n"
            ",,,,\r\n"
            f"{uk(NOW)},{ON_TIME},PTS-C,85%,\r\n")
    (feed.folder / "pts.csv").write_bytes(codecs.BOM_UTF8 + text.encode())
    got = list(feed.fetch(None, NOW))
    assert samples(got) == [(DISCHARGES, "PTS-N", NOW, 1234.0), (ON_TIME, "PTS-C", NOW, 85.0)]
    (bad,) = rejections(got)
    assert bad.reason == f"pts.csv line 2: value of {ON_TIME} must be a number, got '1,0'"


def test_windows_1252_with_a_pound_sign(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    text = HEADER.replace("\r\n", ",Cost\r\n") + f"{uk(NOW)},{ON_TIME},PTS-S,77,£1,200\r\n"
    (feed.folder / "pts.csv").write_bytes(text.replace("£1,200", "\"£1,200\"").encode("cp1252"))
    assert samples(feed.fetch(None, NOW)) == [(ON_TIME, "PTS-S", NOW, 77.0)]


def test_utf16_with_tabs_as_excel_unicode_text(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path, layout=Layout(EXPORT, delimiter="\t"))
    text = f"Date/Time\tMeasure\tSite\tValue\r\n{uk(NOW)}\t{ON_TIME}\tPTS-S\t77\r\n"
    (feed.folder / "pts.csv").write_bytes(text.encode("utf-16"))
    assert samples(feed.fetch(None, NOW)) == [(ON_TIME, "PTS-S", NOW, 77.0)]


def test_constant_metric_and_scope_for_an_export_without_those_columns(tmp_path: Path) -> None:
    layout = Layout({"ts": "When", "value": "Waiting"}, metric=DISCHARGES, scope="trust")
    feed = drop_feed(tmp_path, layout=layout)
    (feed.folder / "d.csv").write_bytes(rows_of(f"{uk(NOW)},17", header="When,Waiting\n"))
    assert samples(feed.fetch(None, NOW)) == [(DISCHARGES, "trust", NOW, 17.0)]


@pytest.mark.parametrize(("text", "expected"), [
    # 29 March 2026: at 01:00 GMT the clocks go forward to 02:00 BST
    ("29/03/2026 00:59", utc(2026, 3, 29, 0, 59)),
    ("29/03/2026 02:00", utc(2026, 3, 29, 1, 0)),
    ("29/3/2026 02:30:15", utc(2026, 3, 29, 1, 30, 15)),
    # 25 October 2026: at 02:00 BST the clocks go back to 01:00 GMT; 01:xx happens twice
    ("25/10/2026 00:59", utc(2026, 10, 24, 23, 59)),
    ("25/10/2026 01:30", utc(2026, 10, 25, 0, 30)),  # the first 01:30, in BST
    ("25/10/2026 02:00", utc(2026, 10, 25, 2, 0)),
    ("04/12/2026 14:05:09", utc(2026, 12, 4, 14, 5, 9)),
    ("04/07/2026 14:05", utc(2026, 7, 4, 13, 5)),  # 4 July, not 7 April
    # ISO 8601: with an offset as written; without one, in the time zone
    ("2026-12-04T10:00:00Z", utc(2026, 12, 4, 10)),
    ("2026-07-01T10:00:00+02:00", utc(2026, 7, 1, 8)),
    ("2026-07-01 10:00:00", utc(2026, 7, 1, 9)),
    ("2026-10-25T01:30", utc(2026, 10, 25, 0, 30)),
    # seconds since the epoch
    ("1790000000", 1790000000.0),
    ("1790000000.25", 1790000000.25),
])
def test_times_are_read_as_written(text: str, expected: float) -> None:
    assert parse_time(text, LONDON) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("29/03/2026 01:00", "does not exist in Europe/London: the clocks went forward"),
    ("29/03/2026 01:59:59", "does not exist in Europe/London"),
    ("2026-03-29T01:30", "does not exist in Europe/London"),
    ("31/02/2026 10:00", "is not a date and time (dd/mm/yyyy HH:MM)"),
    ("13/13/2026 10:00", "is not a date and time"),
    ("04/12/2026", "is not a time: expected dd/mm/yyyy HH:MM, ISO 8601 or seconds"),
    ("yesterday", "is not a time"),
    ("1790000000000", "milliseconds?"),
])
def test_times_that_are_not_ones_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_time(text, LONDON)


def test_the_time_zone_option_applies_to_times_without_an_offset() -> None:
    assert parse_time("01/07/2026 10:00", ZoneInfo("UTC")) == utc(2026, 7, 1, 10)
    assert parse_time("2026-07-01T10:00+01:00", ZoneInfo("UTC")) == utc(2026, 7, 1, 9)


def test_a_day_of_each_clock_change_through_a_file(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    lines = [f"{day}/{month}/2026 {hour:02d}:30,{ON_TIME},trust,{hour}"
             for day, month in (("29", "03"), ("25", "10")) for hour in range(4)]
    (feed.folder / "changes.csv").write_bytes(rows_of(*lines))
    got = list(feed.fetch(None, NOW))
    assert [s[2] for s in samples(got)] == [
        utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30),
        utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30),  # 01:30 BST, the first
        utc(2026, 10, 25, 2, 30), utc(2026, 10, 25, 3, 30)]
    (skipped,) = rejections(got)
    assert skipped.reason.startswith("changes.csv line 3: ts '29/03/2026 01:30' does not exist")


def test_rejected_rows_are_written_beside_the_file_and_the_good_rows_kept(
        tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    (feed.folder / "pts.csv").write_bytes(rows_of(
        f"{uk(NOW)},{ON_TIME},PTS-N,90",
        f"31/02/2026 10:00,{ON_TIME},PTS-N,90",
        f"{uk(NOW)},{ON_TIME},,90",
        f"{uk(NOW)},{ON_TIME},PTS-C,",
        f"{uk(NOW)},{ON_TIME},PTS-C,ninety",
        f"{uk(NOW)},{ON_TIME},PTS-C,1,5",
        f"{uk(NOW)},{ON_TIME}",
        f"{uk(NOW)},{ON_TIME},PTS-S,92,,",  # empty cells past the header are harmless
    ))
    got = list(feed.fetch(None, NOW))
    assert samples(got) == [(ON_TIME, "PTS-N", NOW, 90.0), (ON_TIME, "PTS-S", NOW, 92.0)]
    reasons = [r.reason for r in rejections(got)]
    assert reasons == [
        "pts.csv line 3: ts '31/02/2026 10:00' is not a date and time (dd/mm/yyyy HH:MM)",
        "pts.csv line 4: scope is empty (write trust or a site code)",
        "pts.csv line 5: value is empty",
        f"pts.csv line 6: value of {ON_TIME} must be a number, got 'ninety'",
        "pts.csv line 7: the row has 5 cells and the header 4 (a value with the delimiter in "
        "it must be in quotes)",
        "pts.csv line 8: the row has 2 cells and the header 4 (a value with the delimiter in "
        "it must be in quotes)"]
    assert rejections(got)[0].raw == {"Date/Time": "31/02/2026 10:00", "Measure": ON_TIME,
                                      "Site": "PTS-N", "Value": "90"}
    assert rejections(got)[4].raw["column 5"] == "5"
    written = (feed.folder / "done" / "pts.csv.rejected.csv").read_bytes()
    assert written.startswith(codecs.BOM_UTF8)  # Excel opens it as UTF-8
    table = list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline="")))
    assert table[0] == ["line", "reason", "Date/Time", "Measure", "Site", "Value"]
    assert [row[0] for row in table[1:]] == ["3", "4", "5", "6", "7", "8"]
    assert table[1][1:] == ["ts '31/02/2026 10:00' is not a date and time (dd/mm/yyyy HH:MM)",
                            "31/02/2026 10:00", ON_TIME, "PTS-N", "90"]
    assert table[5][2:] == [uk(NOW), ON_TIME, "PTS-C", "1", "5"]  # as received


def test_a_file_that_is_not_csv_goes_to_failed_with_its_reason(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    (feed.folder / "report.csv").write_bytes(b"PK\x03\x04" + os.urandom(200))
    (feed.folder / "notes.csv").write_text("Dear all,\nthe export is late today.\n")
    (feed.folder / "empty.csv").write_bytes(b"")
    got = list(feed.fetch(None, NOW))
    reasons = sorted(r.reason for r in rejections(got))
    assert len(got) == 3 and names(feed.folder / "done") == []
    assert reasons[0].startswith("empty.csv: the file is empty: no header row")
    assert reasons[1].startswith("notes.csv: no column 'Date/Time'; no column 'Measure'")
    assert "its columns are: 'Dear all', ''" in reasons[1]
    assert reasons[2].startswith("report.csv: an Excel workbook (or another binary file), "
                                 "not CSV: save it as \"CSV UTF-8\"")
    assert reasons[2].endswith("(moved to failed/report.csv)")
    assert names(feed.folder / "failed") == [
        "empty.csv", "empty.csv.reason.txt", "notes.csv", "notes.csv.reason.txt",
        "report.csv", "report.csv.reason.txt"]
    why = (feed.folder / "failed" / "report.csv.reason.txt").read_text()
    assert why.startswith("an Excel workbook")


def test_a_missing_column_names_the_columns_there_are_and_the_nearest(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path)
    (feed.folder / "pts.csv").write_bytes(rows_of(f"{uk(NOW)},{ON_TIME},PTS-N,1",
                                                  header="Date Time,Measure,Site,Values\r\n"))
    (feed.folder / "semi.csv").write_bytes(b"Date/Time;Measure;Site;Value\r\n")
    reasons = sorted(r.reason for r in rejections(feed.fetch(None, NOW)))
    assert reasons[0] == (
        "pts.csv: no column 'Date/Time' (did you mean 'Date Time'?); no column 'Value' (did "
        "you mean 'Values'?); its columns are: 'Date Time', 'Measure', 'Site', 'Values' "
        "(moved to failed/pts.csv)")
    assert "(separated by ';'? set delimiter: \";\")" in reasons[1]


def test_a_file_over_max_bytes_goes_to_failed_unread(tmp_path: Path) -> None:
    feed = drop_feed(tmp_path, max_bytes=1000)
    data = rows_of(*[f"{uk(NOW)},{ON_TIME},PTS-N,1"] * 100)
    (feed.folder / "big.csv").write_bytes(data)
    (reason,) = [r.reason for r in rejections(feed.fetch(None, NOW))]
    assert reason == (f"big.csv: the file is {len(data):,} bytes, over the feed's limit of "
                      f"1,000 (max_bytes): it was not read (moved to failed/big.csv)")
    assert names(feed.folder / "failed") == ["big.csv", "big.csv.reason.txt"]
    assert (feed.folder / "failed" / "big.csv.reason.txt").read_text().startswith(
        f"the file is {len(data):,} bytes")
    assert not feed.state_path.exists()  # not noted as read: cut to size, it would be read


# --- fuzzing: nothing but FetchFailed, every rejection with a reason ----------------------

CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1", "ascii"])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_any_bytes_read_as_samples_rejected_rows_or_unreadable(data: bytes) -> None:
    try:
        read = read_csv(data, Layout(EXPORT))
    except Unreadable as exc:
        assert str(exc)
        return
    assert all(reason for _, reason, _ in read.rejected)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.lists(st.sampled_from(["Date/Time", "Measure", "Site", "Value", " value ",
                                        "x"]) | CELL, min_size=1, max_size=6),
       rows=st.lists(st.lists(CELL | st.sampled_from([uk(NOW), ON_TIME, "PTS-N", "12",
                                                      "29/03/2026 01:30", "1e999"]),
                              max_size=6), max_size=8),
       encoding=ENCODINGS, delimiter=st.sampled_from([",", ";", "\t"]),
       tail=st.binary(max_size=20))
def test_any_file_in_any_encoding_is_filed_and_never_raises(header, rows, encoding, delimiter,
                                                            tail) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode(encoding, errors="replace") + tail
    with tempfile.TemporaryDirectory() as tmp:
        feed = drop_feed(Path(tmp))
        (feed.folder / "fuzz.csv").write_bytes(data)
        with feed:
            got = list(feed.fetch(None, NOW))
        assert all(r.reason for r in rejections(got))
        assert all(isinstance(s["ts"], float) and isinstance(s["value"], float)
                   for s in got if not isinstance(s, Rejection))
        filed = names(feed.folder / "done") + names(feed.folder / "failed")
        assert "fuzz.csv" in filed and names(feed.folder / "processing") == []


# --- feeds.yaml ---------------------------------------------------------------------------


def load(tmp_path: Path, text: str, catalogue: Catalogue) -> list[Feed]:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    context = FeedContext(catalogue, Clock(), tmp_path, tmp_path / "var", {})
    return load_feeds(path, context, adapters={"csv_drop": csv_drop})


def problems(tmp_path: Path, text: str, catalogue: Catalogue) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, catalogue)
    return [str(p) for p in caught.value.problems]


def test_an_entry_builds_a_feed_with_its_folder_relative_to_feeds_yaml(
        tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "drop" / "pts").mkdir(parents=True)
    (feed,) = load(tmp_path, """\
feeds:
  - name: pts-export
    type: csv_drop
    function: pts
    folder: drop/pts
    interval: 1m
    timeout: 20s
    max_bytes: 5000
    columns: {ts: "Date/Time", metric: "Measure", scope: "Site", value: "Value"}
    timezone: UTC
    pattern: "pts-*.csv"
    delimiter: ";"
    settle: 0s
""", catalogue)
    assert isinstance(feed, CsvDropFeed) and isinstance(feed, Feed)
    assert (feed.name, feed.function, feed.interval, feed.timeout) == ("pts-export", "pts",
                                                                       60.0, 20.0)
    assert (feed.folder, feed.max_bytes, feed.pattern, feed.settle) == (
        tmp_path / "drop" / "pts", 5000, "pts-*.csv", 0.0)
    assert feed.layout == Layout(EXPORT, zone=ZoneInfo("UTC"), delimiter=";")
    assert feed.state_path == tmp_path / "var" / "feeds" / "pts-export" / "seen.sqlite3"
    (tmp_path / "drop" / "pts" / "pts-1.csv").write_text(
        f"Date/Time;Measure;Site;Value\n01/07/2026 10:00;{ON_TIME};PTS-N;90\n")
    assert samples(feed.fetch(None, NOW)) == [(ON_TIME, "PTS-N", utc(2026, 7, 1, 10), 90.0)]


def test_the_defaults_read_ts_metric_scope_value_in_london_time(tmp_path: Path,
                                                                 catalogue: Catalogue) -> None:
    (tmp_path / "in").mkdir()
    (feed,) = load(tmp_path, "feeds:\n  - {name: d, type: csv_drop, function: pts, "
                             "interval: 1m, folder: in, metric: pts.on_time_pct}\n", catalogue)
    assert isinstance(feed, CsvDropFeed)
    assert feed.layout == Layout({"ts": "ts", "scope": "scope", "value": "value"},
                                 metric=ON_TIME, zone=LONDON)
    assert (feed.pattern, feed.settle) == ("*.csv", csv_drop.DEFAULT_SETTLE)


def test_every_problem_in_an_entry_is_reported_where_it_was_written(
        tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "a-file").write_text("")
    found = problems(tmp_path, """\
feeds:
  - name: one
    type: csv_drop
    function: pts
    interval: 1m
    folder: /nowhere/at/all
    columns: {ts: "Date/Time", valeu: "Value"}
    metric: pts.on_time
    scope: PTS-X
    timezone: Europe/Londn
    delimiter: tab
    pattern: "sub/*.csv"
    settle: soon
  - {name: two, type: csv_drop, function: pts, interval: 1m, folder: a-file,
     metric: pts.on_time_pct, columns: {metric: Measure, ts: Value, value: Value}}
  - {name: three, type: csv_drop, function: pts, interval: 1m, folder: drop,
     metric: pts.on_time_pct, scope: EOC-N}
  - {name: four, type: csv_drop, function: pts, interval: 1m}
  - {name: five, type: csv_drop, function: pts, interval: 1m, folder: drop, colums: {}}
""", catalogue)
    text = "\n".join(found)
    path = str(tmp_path / "feeds.yaml")
    assert all(p.startswith(path + ":") for p in found), found  # FILE:LINE:COL, each
    assert f"{path}:6:13: feeds[0].folder: the folder /nowhere/at/all does not exist: " \
           f"create it" in text
    assert ":7:" in text and "unknown key 'valeu' (did you mean 'value'?)" in text
    assert ":8:" in text and "unknown metric 'pts.on_time' (did you mean 'pts.on_time_pct'?)" \
        in text
    assert ":9:" in text and "unknown scope 'PTS-X' (did you mean 'PTS-" in text
    assert ":10:" in text and "unknown time zone 'Europe/Londn' (did you mean " \
                              "'Europe/London'?)" in text
    assert ":11:" in text and "expected one character" in text and "got 'tab'" in text
    assert ":12:" in text and "file name pattern" in text
    assert ":13:" in text and "expected a duration" in text
    assert ":14:" in text and "is not a folder" in text
    assert ":15:" in text and "metric is given as a constant too" in text
    assert ":15:" in text and "ts and value are read from the same column 'Value'" in text
    assert ":17:" in text and "pts.on_time_pct is not reported for a eoc (EOC-N)" in text
    assert ":18:" in text and "missing required key 'folder'" in text
    assert ":19:" in text and "unknown key 'colums' (did you mean 'columns'?)" in text
    assert len(found) == 14, found


# --- through the poller into the store ----------------------------------------------------


def test_a_dropped_export_polled_into_the_store(tmp_path: Path, store: Store,
                                                catalogue: Catalogue) -> None:
    (tmp_path / "drop").mkdir()
    (feed,) = load(tmp_path, """\
feeds:
  - name: pts-export
    type: csv_drop
    function: pts
    folder: drop
    interval: 1m
    settle: 0s
    columns: {ts: "Date/Time", metric: "Measure", scope: "Site", value: "Value"}
""", catalogue)
    export = (HEADER
              + f"{uk(NOW - 120)},{ON_TIME},PTS-N,91\r\n"
              + f"{uk(NOW - 60)},{ON_TIME},PTS-N,89.5\r\n"
              + f"{uk(NOW - 60)},{DISCHARGES},trust,23\r\n"
              + f"{uk(NOW - 60)},{DISCHARGES},RVJ,4\r\n"  # a hospital: not a PTS scope
              + f"{uk(NOW - 60)},{ON_TIME},PTS-S,n/a\r\n")
    (tmp_path / "drop" / "0900.csv").write_text(export, encoding="utf-8-sig")
    poller = FeedPoller(feed, store, catalogue, clock=lambda: NOW)
    report = poller.poll()
    assert report.ok and report.accepted == 3 and len(report.rejected) == 2
    latest = store.latest()
    assert latest[(ON_TIME, "PTS-N")] == (NOW - 60, 89.5)
    assert latest[(DISCHARGES, "trust")] == (NOW - 60, 23.0)
    reasons = sorted(q["reason"] for q in store.quarantined())
    assert reasons[0].startswith("0900.csv line 6: value of pts.on_time_pct must be a number")
    assert reasons[1] == f"{DISCHARGES} is not reported by a hospital (RVJ)"
    assert any('"file": "0900.csv", "line": 5' in q["sample"] for q in store.quarantined())
    again = poller.poll()  # nothing new: nothing read, nothing counted
    assert again.ok and again.accepted == 0 and not again.rejected
    (status,) = store.feed_status()
    assert (status.accepted, status.rejected) == (3, 2)


def test_feed_state_is_kept_under_the_data_folder(tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "drop").mkdir()
    (feed,) = load(tmp_path, "feeds:\n  - {name: 'pts/export', type: csv_drop, function: pts,"
                             " interval: 1m, folder: drop, settle: 0s}\n", catalogue)
    assert isinstance(feed, CsvDropFeed)
    (tmp_path / "drop" / "x.csv").write_text(f"ts,metric,scope,value\n{NOW},{ON_TIME},trust,1\n")
    with feed:
        assert len(samples(feed.fetch(None, NOW))) == 1
    assert (tmp_path / "var" / "feeds" / "pts_export" / "seen.sqlite3").is_file()

