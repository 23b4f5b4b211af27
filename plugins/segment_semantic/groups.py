"""Which ADE20K classes make up each group the artist is offered (sky, buildings, people...).

The ADE20K segmenter knows 150 classes; an artist wants a dozen things to style differently.
The table is data, declared once: every class of ``ade20k-labels.txt`` (its exact, one-word
names) belongs to exactly one group, and the model's channel 0 ("other": nothing ADE20K
names) belongs to ``other``. The labels file shortens ADE20K's names to their first word, so
a few read oddly; what they are is noted beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Group:
    """A group of ADE20K classes: its name (files, the CLI), its title (the editor) and colour."""

    name: str
    title: str
    #: "#rrggbb", distinct from every other group's, readable as an overlay on photos
    colour: str
    #: ADE20K class names exactly as in ade20k-labels.txt
    classes: tuple[str, ...]


GROUPS: tuple[Group, ...] = (
    Group("sky", "Sky", "#3c8ce0", ("sky",)),
    # Built structures: from outside, windows, doors, columns and awnings are part of a facade,
    # and a fence, a bridge or a stair is built like one.
    Group("buildings", "Buildings", "#b4643c", (
        "building", "house", "skyscraper", "tower", "hovel", "bridge", "grandstand", "windowpane",
        "door", "awning", "column", "fence", "railing", "bannister", "stairs", "stairway", "step",
        "pier", "booth", "tent", "canopy",
    )),
    Group("plants", "Plants", "#2e8b3a", ("tree", "plant", "flower", "palm")),
    Group("grass", "Grass", "#9acd32", ("grass", "field")),
    # "swimming" is the swimming pool; ADE20K's "pool" is a pool (billiard) table: interior
    Group("water", "Water", "#1fb4c8", ("water", "sea", "river", "lake", "swimming", "waterfall", "fountain")),
    Group("mountains", "Mountains", "#7d6aa8", ("mountain", "hill", "rock")),
    # ADE20K has no snow class; "dirt" is a dirt track, "land" is bare ground or soil
    Group("ground", "Ground", "#d2b478", ("road", "sidewalk", "earth", "sand", "path", "dirt", "land", "runway")),
    Group("people", "People", "#e0503c", ("person", "apparel")),
    Group("animals", "Animals", "#e08c1e", ("animal",)),
    Group("vehicles", "Vehicles", "#e05aa0", ("car", "bus", "truck", "van", "boat", "ship", "airplane", "minibike", "bicycle")),
    # Walls, floors, ceilings, furniture and what stands in a room. "coffee" is a coffee table,
    # "kitchen" a kitchen island, "swivel" a swivel chair, "arcade" an arcade machine, "case" a
    # display case, "crt" a CRT screen, "hood" an extractor hood; "screen" appears twice in the
    # file (a screen door, a projection screen): both are here.
    Group("interior", "Interior", "#b45ae0", (
        "wall", "floor", "ceiling", "bed", "cabinet", "table", "curtain", "chair", "painting", "sofa",
        "shelf", "mirror", "rug", "armchair", "seat", "desk", "wardrobe", "lamp", "bathtub", "cushion",
        "chest", "counter", "sink", "fireplace", "refrigerator", "case", "pool", "pillow", "screen",
        "bookcase", "blind", "coffee", "toilet", "book", "countertop", "stove", "kitchen", "computer",
        "swivel", "bar", "arcade", "towel", "light", "chandelier", "television", "ottoman", "buffet",
        "escalator", "washer", "stool", "cradle", "oven", "microwave", "dishwasher", "blanket", "hood",
        "sconce", "vase", "tray", "fan", "crt", "plate", "monitor", "shower", "radiator", "glass", "clock",
    )),
    # Small things and street furniture: "traffic" is a traffic light, "trade" a brand name,
    # "base" a pedestal, "plaything" a toy, "tank" a storage tank, "pot" a flowerpot
    Group("other", "Other", "#8c8c8c", (
        "base", "box", "signboard", "bench", "streetlight", "pole", "bottle", "poster", "stage",
        "conveyer", "plaything", "barrel", "basket", "bag", "ball", "food", "tank", "trade", "pot",
        "sculpture", "traffic", "ashcan", "bulletin", "flag",
    )),
)

#: the group the model's channel 0 ("other": nothing ADE20K names) belongs to
UNNAMED_GROUP = "other"


def by_name() -> dict[str, Group]:
    return {g.name: g for g in GROUPS}


def class_to_group(labels: list[str]) -> np.ndarray:
    """For the model's 151 channels (0 = other, i = ``labels[i - 1]``): the index of its group in GROUPS.

    A name the table does not know (a different labels file) is a ValueError naming it.
    """
    index = {c: i for i, g in enumerate(GROUPS) for c in g.classes}
    unknown = [name for name in labels if name not in index]
    if unknown:
        raise ValueError(f"ADE20K classes missing from the group table: {', '.join(unknown)}")
    return np.array([[g.name for g in GROUPS].index(UNNAMED_GROUP)] + [index[name] for name in labels], dtype=np.int64)


def grouping_matrix(labels: list[str]) -> np.ndarray:
    """151 x len(GROUPS) 0/1 float32 matrix: class probabilities @ it = group probabilities."""
    owner = class_to_group(labels)
    m = np.zeros((len(owner), len(GROUPS)), dtype=np.float32)
    m[np.arange(len(owner)), owner] = 1.0
    return m
