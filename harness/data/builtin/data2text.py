"""data2text: a restaurant record to one sentence, in the style of the E2E NLG challenge.

Each example has `input`, a meaning representation such as
"name[The Golden Lantern] | eatType[restaurant] | food[Italian] | area[riverside]"
(the name plus 2 to 6 other attributes), `output`, one reference sentence, and
`references`, three sentences written by three different realisation patterns (output is
references[0]). The patterns put the attributes in different orders with different
wording, as different human writers would, so multi-reference ROUGE/BLEU mean something.

Splits never share a restaurant: each name belongs to exactly one split, so a model cannot
score on test by remembering a training record. Everything is drawn from a random.Random
seeded by the split name, so the data is the same on every machine.

To change the data, bump GENERATOR_VERSION: it is part of the data fingerprint, so
results computed on the old data are not mistaken for results on the new.
"""

from __future__ import annotations

import functools
import random

from harness.errors import HarnessError

GENERATOR_VERSION = 1

SPLIT_SIZES = {"train": 2000, "validation": 200, "test": 200}

# Made-up venue names; the partition below gives 30 to train, 6 each to validation and test.
NAMES = (
    "The Golden Lantern", "The Copper Kettle", "Blue Heron", "The Silver Spoon", "Willow Tree",
    "The Crooked Stair", "Amber Fox", "The Painted Door", "Harbour Light", "The Velvet Fig",
    "Mossy Stone", "The Brass Anchor", "Juniper House", "The Wandering Goat", "Old Lamplighter",
    "The Red Lighthouse", "Saffron Moon", "The Quiet Owl", "Cobalt Kitchen", "The Oak Barrel",
    "Little Marigold", "The Iron Gate", "Pebble Bay", "The Hollow Pine", "Starling Corner",
    "The Tin Lantern", "Maple and Rye", "The Green Parrot", "Cedar Hall", "The Lucky Penny",
    "The Sleeping Bear", "Olive Grove", "The Crimson Sail", "Thistle Inn", "The Gilded Pear",
    "Rosewater", "The Humble Loaf", "Northwind", "The Jade Teapot", "Elm Street Kitchen",
    "The Salt Cellar", "Lavender Lane",
)
_SPLIT_NAMES = {"train": NAMES[:30], "validation": NAMES[30:36], "test": NAMES[36:]}

EAT_TYPES = ("restaurant", "coffee shop", "pub", "bistro", "wine bar")
FOODS = ("Italian", "French", "Chinese", "Japanese", "Indian", "English", "Mexican", "Thai", "Greek", "fast food")
AREAS = ("riverside", "city centre", "old town", "harbour district", "university quarter")
PRICES = ("cheap", "moderate", "high", "less than £20", "£20-25", "more than £30")
RATINGS = ("1 out of 5", "3 out of 5", "5 out of 5", "low", "average", "high")

# The E2E attribute order; `input` always lists fields in this order.
FIELDS = ("name", "eatType", "food", "priceRange", "customerRating", "area", "familyFriendly", "near")

# Phrase banks: per value, a few wordings; a pattern picks one at random.
_PRICE_NP = {  # after "with"
    "cheap": ("low prices", "cheap prices", "budget prices"),
    "moderate": ("moderate prices", "mid-range prices", "average prices"),
    "high": ("high prices", "premium prices", "a high price range"),
    "less than £20": ("prices under £20", "meals for less than £20", "a price range below £20"),
    "£20-25": ("prices of £20-25", "meals costing £20-25", "a £20-25 price range"),
    "more than £30": ("prices over £30", "meals costing more than £30", "a price range above £30"),
}
_PRICE_VP = {  # after the name
    "cheap": ("is cheap", "is inexpensive"),
    "moderate": ("is moderately priced", "has moderate prices"),
    "high": ("is expensive", "is on the pricey side"),
    "less than £20": ("costs less than £20 per person", "charges under £20 a head"),
    "£20-25": ("costs £20-25 per person", "charges £20-25 a head"),
    "more than £30": ("costs more than £30 per person", "charges over £30 a head"),
}
_PRICE_PP = {  # after "offers ... "
    "cheap": ("at low prices", "at budget prices"),
    "moderate": ("at moderate prices", "at fair prices"),
    "high": ("at high prices", "at premium prices"),
    "less than £20": ("for less than £20", "for under £20"),
    "£20-25": ("for £20-25", "for between £20 and £25"),
    "more than £30": ("for more than £30", "for over £30"),
}
_RATING_NP = {
    "1 out of 5": ("a customer rating of 1 out of 5", "a 1 out of 5 rating"),
    "3 out of 5": ("a customer rating of 3 out of 5", "a 3 out of 5 rating"),
    "5 out of 5": ("a customer rating of 5 out of 5", "a 5 out of 5 rating"),
    "low": ("a low customer rating", "poor reviews"),
    "average": ("an average customer rating", "average reviews"),
    "high": ("a high customer rating", "excellent reviews"),
}
_RATING_VP = {
    "1 out of 5": ("is rated 1 out of 5 by customers", "gets 1 out of 5 from its customers"),
    "3 out of 5": ("is rated 3 out of 5 by customers", "gets 3 out of 5 from its customers"),
    "5 out of 5": ("is rated 5 out of 5 by customers", "gets 5 out of 5 from its customers"),
    "low": ("has a low customer rating", "is poorly rated"),
    "average": ("has an average customer rating", "is rated average by customers"),
    "high": ("has a high customer rating", "is highly rated by customers"),
}
_FAMILY_VP = {
    "yes": ("is family friendly", "welcomes families", "is suitable for children"),
    "no": ("is not family friendly", "does not welcome families", "is not suitable for children"),
}
_AREA_PP = ("in the {}", "in the {} area", "located in the {}")
_RIVERSIDE_PP = ("by the riverside", "in the riverside area", "on the riverside")  # not "in the riverside"
_NEAR_PP = ("near {}", "close to {}", "not far from {}")
_FOOD_NOUN = ("food", "dishes", "cuisine")


def generate(split: str) -> list[dict]:
    """The examples of one split (train, validation, test); fresh copies on every call."""
    return [{**ex, "references": list(ex["references"])} for ex in _generate(split)]


@functools.lru_cache(maxsize=None)
def _generate(split: str) -> tuple[dict, ...]:
    if split not in SPLIT_SIZES:
        raise HarnessError(f"data2text has no split {split!r}; it has: {', '.join(SPLIT_SIZES)}")
    rng = random.Random(f"data2text-v{GENERATOR_VERSION}-{split}")  # str seeds are stable across runs
    names = _SPLIT_NAMES[split]
    examples = []
    for _ in range(SPLIT_SIZES[split]):
        record = _record(rng, names)
        # Which pattern writes `output` varies, so no single phrasing is "the" answer.
        patterns = [_describe, _locate_first, _appositive]
        rng.shuffle(patterns)
        references = [pattern(record, rng) for pattern in patterns]
        text = " | ".join(f"{key}[{record[key]}]" for key in FIELDS if key in record)
        examples.append({"input": text, "output": references[0], "references": references})
    return tuple(examples)


def _record(rng: random.Random, names: tuple[str, ...]) -> dict[str, str]:
    name = rng.choice(names)
    chosen = rng.sample(FIELDS[1:], rng.randint(2, 6))
    values = {
        "eatType": rng.choice(EAT_TYPES),
        "food": rng.choice(FOODS),
        "priceRange": rng.choice(PRICES),
        "customerRating": rng.choice(RATINGS),
        "area": rng.choice(AREAS),
        "familyFriendly": rng.choice(("yes", "no")),
        # Landmarks come from the same split, so no other split's name leaks in.
        "near": rng.choice([n for n in names if n != name]),
    }
    return {"name": name, **{key: values[key] for key in chosen}}


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def _food(food: str, rng: random.Random) -> str:
    return food if food == "fast food" else f"{food} {rng.choice(_FOOD_NOUN)}"


def _places(r: dict[str, str], rng: random.Random) -> list[str]:
    places = []
    if "area" in r:
        patterns = _RIVERSIDE_PP if r["area"] == "riverside" else _AREA_PP
        places.append(rng.choice(patterns).format(r["area"]))
    if "near" in r:
        places.append(rng.choice(_NEAR_PP).format(r["near"]))
    return places


def _describe(r: dict[str, str], rng: random.Random) -> str:
    """Name first: "X is an Italian pub in the old town near Y, with cheap prices and ..."."""
    head = r.get("eatType", "place")
    if "food" in r:
        head = ("fast food " if r["food"] == "fast food" else f"{r['food']} ") + head
    sentence = f"{r['name']} is {_article(head)}"
    if places := _places(r, rng):
        sentence += " " + " ".join(places)
    withs = [rng.choice(table[r[key]]) for key, table in (("priceRange", _PRICE_NP), ("customerRating", _RATING_NP)) if key in r]
    if withs:
        sentence += (", with " if places else " with ") + " and ".join(withs)
    if "familyFriendly" in r:
        sentence += (", and it " if withs or places else " that ") + rng.choice(_FAMILY_VP[r["familyFriendly"]])
    return sentence + "."


def _locate_first(r: dict[str, str], rng: random.Random) -> str:
    """Place first: "In the city centre, there is a pub called X that serves ..."."""
    places = " ".join(_places(r, rng)).removeprefix("located ")  # "Located in ..., there is" reads badly
    opening = places[:1].upper() + places[1:] + ", there is " if places else "There is "
    sentence = opening + _article(r.get("eatType", "venue"))
    sentence += f" called {r['name']}"
    verbs = []
    if "food" in r:
        verbs.append("serves " + _food(r["food"], rng))
    if "priceRange" in r:
        verbs.append(rng.choice(_PRICE_VP[r["priceRange"]]))
    if "customerRating" in r:
        verbs.append(rng.choice(_RATING_VP[r["customerRating"]]))
    if "familyFriendly" in r:
        verbs.append(rng.choice(_FAMILY_VP[r["familyFriendly"]]))
    if verbs:
        sentence += " that " + _join(verbs)
    return sentence + "."


def _appositive(r: dict[str, str], rng: random.Random) -> str:
    """Rating and family first: "X, a pub by the river, is highly rated, ... and offers ..."."""
    places = _places(r, rng)
    described = " ".join(([_article(r["eatType"])] if "eatType" in r else []) + places)
    sentence = r["name"] + (f", {described}," if described else "")
    verbs = []
    if "customerRating" in r:
        verbs.append(rng.choice(_RATING_VP[r["customerRating"]]))
    if "familyFriendly" in r:
        verbs.append(rng.choice(_FAMILY_VP[r["familyFriendly"]]))
    if "food" in r:
        offer = "offers " + _food(r["food"], rng)
        if "priceRange" in r:
            offer += " " + rng.choice(_PRICE_PP[r["priceRange"]])
        verbs.append(offer)
    elif "priceRange" in r:
        verbs.append("offers meals " + rng.choice(_PRICE_PP[r["priceRange"]]))
    # Only a type and places: no verb to attach, and "X is a pub in ..." is _describe's sentence.
    if not verbs:
        kind = f"{_article(r['eatType'])} called {r['name']}" if "eatType" in r else r["name"]
        return f"You can find {kind} " + " ".join(places) + "."
    return sentence + " " + _join(verbs) + "."
