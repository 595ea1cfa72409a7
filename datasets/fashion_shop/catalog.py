"""The Fashion Shop catalog: attribute vocabularies, attribute sampling, titles and descriptions.

Used by ``build.py``. The design rule that makes the dataset useful for multimodal learning:

* colour and shape details are visible ONLY in the image (the text never names a colour,
  and category nouns are shape-neutral: "tee", never "tank top");
* material, style, season and brand appear ONLY in the text;
* the category is visible in both.

Titles and descriptions are assembled from several templates and synonym lists, so the same
attributes are phrased in many ways and a sentence encoder has real work to do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Fashion-MNIST label order (Xiao et al. 2017): label k is CATEGORIES[k].
CATEGORIES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Share of the catalog per category: a mild long tail.
CATEGORY_SHARE = (0.15, 0.10, 0.10, 0.13, 0.08, 0.06, 0.11, 0.12, 0.08, 0.07)
# Shape-neutral nouns (plural ones take "these"/"are").
NOUNS = {
    "T-shirt/top": ("T-shirt", "tee", "top"),
    "Trouser": ("trousers", "pants", "slacks"),
    "Pullover": ("pullover", "sweater", "jumper"),
    "Dress": ("dress", "frock", "one-piece dress"),
    "Coat": ("coat", "jacket", "overcoat"),
    "Sandal": ("sandals", "open-toe sandals", "strap sandals"),
    "Shirt": ("shirt", "button-up shirt", "blouse"),
    "Sneaker": ("sneakers", "trainers", "kicks"),
    "Bag": ("bag", "handbag", "carryall"),
    "Ankle boot": ("ankle boots", "booties", "short boots"),
}
PLURAL_CATEGORIES = {"Trouser", "Sandal", "Sneaker", "Ankle boot"}

# Colour name -> RGB tint. Only the image shows it.
PALETTE = {
    "white": (236, 236, 230),
    "grey": (150, 150, 150),
    "beige": (218, 196, 160),
    "brown": (135, 88, 52),
    "red": (205, 42, 42),
    "pink": (240, 140, 175),
    "orange": (240, 140, 40),
    "yellow": (236, 212, 60),
    "green": (60, 152, 72),
    "blue": (62, 112, 212),
    "navy": (42, 54, 128),
    "purple": (132, 72, 172),
}
COLOUR_SHARE = {
    "white": 0.12,
    "grey": 0.14,
    "beige": 0.09,
    "brown": 0.09,
    "red": 0.08,
    "pink": 0.06,
    "orange": 0.04,
    "yellow": 0.04,
    "green": 0.07,
    "blue": 0.11,
    "navy": 0.12,
    "purple": 0.04,
}
EARTHY_COLOURS = ("brown", "beige", "grey", "navy")  # twice as likely for footwear and bags
EARTHY_CATEGORIES = {"Sandal", "Sneaker", "Bag", "Ankle boot", "Coat"}

# Material -> phrasings, and which materials each category comes in.
MATERIAL_PHRASES = {
    "cotton": ("cotton", "soft cotton", "100% cotton", "breathable cotton"),
    "linen": ("linen", "airy linen", "washed linen"),
    "jersey": ("jersey", "stretch jersey", "soft jersey knit"),
    "bamboo": ("bamboo fibre", "silky bamboo", "bamboo viscose"),
    "polyester": ("polyester", "recycled polyester", "easy-care polyester"),
    "denim": ("denim", "rigid denim", "stretch denim"),
    "wool": ("wool", "pure wool", "warm wool"),
    "corduroy": ("corduroy", "fine-wale corduroy", "soft corduroy"),
    "merino": ("merino", "fine merino wool", "extra-fine merino"),
    "cashmere": ("cashmere", "pure cashmere", "brushed cashmere"),
    "fleece": ("fleece", "cosy fleece", "brushed fleece"),
    "acrylic": ("acrylic", "acrylic knit", "soft acrylic yarn"),
    "silk": ("silk", "pure silk", "washed silk"),
    "chiffon": ("chiffon", "floaty chiffon", "sheer chiffon"),
    "satin": ("satin", "smooth satin", "fluid satin"),
    "leather": ("leather", "genuine leather", "full-grain leather", "supple leather"),
    "down": ("down", "down filling", "responsibly sourced down"),
    "tweed": ("tweed", "wool tweed", "textured tweed"),
    "nylon": ("nylon", "ripstop nylon", "lightweight nylon"),
    "suede": ("suede", "soft suede", "brushed suede"),
    "rubber": ("rubber", "natural rubber", "moulded rubber"),
    "cork": ("cork", "natural cork", "cushioned cork"),
    "flannel": ("flannel", "brushed flannel", "cosy flannel"),
    "canvas": ("canvas", "heavy canvas", "cotton canvas"),
    "mesh": ("mesh", "breathable mesh", "engineered mesh"),
    "knit": ("knit", "sock-like knit", "stretch knit"),
    "straw": ("straw", "woven straw", "natural straw"),
    "nubuck": ("nubuck", "soft nubuck", "sanded nubuck"),
}
MATERIALS_BY_CATEGORY = {
    "T-shirt/top": ("cotton", "linen", "jersey", "bamboo", "polyester"),
    "Trouser": ("denim", "cotton", "wool", "linen", "corduroy", "polyester"),
    "Pullover": ("wool", "merino", "cashmere", "cotton", "fleece", "acrylic"),
    "Dress": ("cotton", "silk", "linen", "chiffon", "satin", "jersey", "polyester"),
    "Coat": ("wool", "leather", "down", "tweed", "nylon", "suede"),
    "Sandal": ("leather", "suede", "rubber", "cork"),
    "Shirt": ("cotton", "linen", "silk", "denim", "flannel", "polyester"),
    "Sneaker": ("canvas", "leather", "mesh", "suede", "knit"),
    "Bag": ("leather", "canvas", "nylon", "suede", "straw"),
    "Ankle boot": ("leather", "suede", "rubber", "nubuck"),
}
MATERIAL_PRICE_FACTOR = {
    "cashmere": 2.0,
    "silk": 1.6,
    "leather": 1.5,
    "down": 1.5,
    "suede": 1.4,
    "merino": 1.4,
    "tweed": 1.3,
    "nubuck": 1.3,
    "polyester": 0.8,
    "acrylic": 0.8,
    "rubber": 0.8,
    "nylon": 0.9,
    "canvas": 0.9,
    "straw": 0.9,
}

STYLES = ("casual", "formal", "sporty", "vintage", "minimalist", "streetwear", "bohemian")
STYLE_ADJECTIVES = {
    "casual": ("casual", "relaxed", "laid-back", "everyday"),
    "formal": ("tailored", "formal", "smart", "elegant"),
    "sporty": ("sporty", "athletic", "active", "performance"),
    "vintage": ("vintage", "retro", "heritage", "throwback"),
    "minimalist": ("minimalist", "clean", "understated", "essential"),
    "streetwear": ("streetwear", "urban", "street", "skate-inspired"),
    "bohemian": ("bohemian", "boho", "free-spirited", "folk-inspired"),
}
STYLE_SENTENCES = {
    "casual": (
        "Easy to wear from morning coffee to weekend errands.",
        "A relaxed piece made for everyday comfort.",
        "Throw it on and go: no fuss, all comfort.",
    ),
    "formal": (
        "Sharp enough for the office and for evenings out.",
        "A polished choice for meetings and dinners.",
        "Tailored lines for occasions that call for a smart look.",
    ),
    "sporty": (
        "Built to move with you, on the track or off it.",
        "An athletic piece that keeps up with an active day.",
        "Made for workouts, commutes and everything in between.",
    ),
    "vintage": (
        "A nod to classic designs of decades past.",
        "Retro character with a modern fit.",
        "Inspired by archive pieces from the seventies.",
    ),
    "minimalist": (
        "Pared-back design that pairs with anything.",
        "Clean lines, no logos, nothing extra.",
        "A quiet essential for a capsule wardrobe.",
    ),
    "streetwear": (
        "Straight from the city's skate parks and sidewalks.",
        "A statement piece with an urban edge.",
        "Made for layering and standing out on the street.",
    ),
    "bohemian": (
        "A free-spirited piece for festivals and travels.",
        "Artisan details with a relaxed, wandering spirit.",
        "Easygoing boho charm for long getaways.",
    ),
}
# Rows: CATEGORIES; columns: STYLES. Relative plausibility of each style per category.
STYLE_WEIGHTS = np.array(
    [
        [4, 1, 3, 2, 3, 3, 2],  # T-shirt/top
        [3, 3, 2, 2, 3, 2, 1],  # Trouser
        [4, 2, 1, 3, 3, 2, 2],  # Pullover
        [2, 4, 1, 3, 2, 1, 4],  # Dress
        [2, 4, 1, 3, 3, 2, 1],  # Coat
        [3, 1, 2, 1, 2, 1, 4],  # Sandal
        [3, 4, 1, 2, 3, 1, 2],  # Shirt
        [3, 1, 4, 2, 2, 4, 1],  # Sneaker
        [3, 3, 2, 3, 3, 2, 2],  # Bag
        [2, 3, 1, 3, 3, 2, 2],  # Ankle boot
    ],
    dtype=float,
)

SEASONS = ("spring", "summer", "autumn", "winter", "all-season")
SEASON_SENTENCES = {
    "spring": (
        "A fresh pick for mild spring days.",
        "Perfect for the first warm weeks of spring.",
        "Light enough for spring showers and breezy afternoons.",
    ),
    "summer": (
        "Made for hot summer days.",
        "A warm-weather essential for beach trips and city heat.",
        "Stays comfortable when the temperature climbs in summer.",
    ),
    "autumn": (
        "Ideal for crisp autumn walks.",
        "A layering favourite for the fall season.",
        "Ready for cool autumn evenings as the leaves turn.",
    ),
    "winter": (
        "Built for the coldest winter months.",
        "Keeps you cosy when temperatures drop below zero.",
        "A cold-weather staple for snowy winter days.",
    ),
    "all-season": (
        "Wearable all year round.",
        "A year-round staple for every season.",
        "Works in any weather, any month of the year.",
    ),
}
# Rows: CATEGORIES; columns: SEASONS.
SEASON_WEIGHTS = np.array(
    [
        [3, 5, 1, 0.3, 3],  # T-shirt/top
        [2, 1, 2, 1, 5],  # Trouser
        [1, 0.2, 4, 4, 1],  # Pullover
        [4, 4, 1, 0.5, 2],  # Dress
        [1, 0.1, 4, 5, 1],  # Coat
        [1, 6, 0.2, 0.1, 1],  # Sandal
        [3, 2, 2, 1, 4],  # Shirt
        [2, 2, 1, 0.5, 5],  # Sneaker
        [1, 1, 1, 1, 6],  # Bag
        [1, 0.2, 4, 4, 2],  # Ankle boot
    ],
    dtype=float,
)

# Fictional brands: (name, price tier, two favourite styles). Listed from most to least items.
BRANDS = (
    ("Harbour Lane", "budget", ("casual", "sporty")),
    ("Kestrel", "mid", ("sporty", "streetwear")),
    ("Oakhaven", "mid", ("casual", "vintage")),
    ("Nordvik", "premium", ("minimalist", "formal")),
    ("Fable Street", "mid", ("streetwear", "casual")),
    ("Brisk", "budget", ("sporty", "casual")),
    ("Wren & Fig", "mid", ("bohemian", "casual")),
    ("Pallas", "premium", ("formal", "minimalist")),
    ("Tidewell", "budget", ("casual", "sporty")),
    ("Morrow", "mid", ("streetwear", "minimalist")),
    ("Tamsin Row", "mid", ("bohemian", "vintage")),
    ("Calder", "premium", ("formal", "vintage")),
    ("Quillon", "mid", ("minimalist", "casual")),
    ("Nimbus", "budget", ("sporty", "streetwear")),
    ("Atelier Sol", "premium", ("formal", "bohemian")),
    ("Ridgeway", "budget", ("casual", "vintage")),
    ("Vireo", "mid", ("sporty", "minimalist")),
    ("Solene", "mid", ("formal", "bohemian")),
    ("Marlowe & Finch", "premium", ("vintage", "formal")),
    ("Poppet", "budget", ("casual", "bohemian")),
    ("Sora Studio", "premium", ("minimalist", "streetwear")),
    ("Halden", "mid", ("vintage", "minimalist")),
    ("Larkspur", "mid", ("bohemian", "vintage")),
    ("Ferro", "premium", ("streetwear", "formal")),
)
TIER_PRICE_FACTOR = {"budget": 0.6, "mid": 1.0, "premium": 1.9}
TIER_SENTENCES = {
    "budget": ("From {brand}'s great-value range.", "An affordable find from {brand}."),
    "mid": ("From {brand}'s core collection.", "A dependable {brand} favourite."),
    "premium": ("From {brand}'s signature line.", "A premium piece from the {brand} atelier."),
}
BASE_PRICE = {
    "T-shirt/top": 20,
    "Trouser": 45,
    "Pullover": 50,
    "Dress": 60,
    "Coat": 120,
    "Sandal": 35,
    "Shirt": 40,
    "Sneaker": 80,
    "Bag": 70,
    "Ankle boot": 110,
}
MODEL_NAMES = (
    "Aster",
    "Kite",
    "Juno",
    "Nova",
    "Orion",
    "Pike",
    "Ridge",
    "Atlas",
    "Echo",
    "Flint",
    "Haven",
    "Luna",
    "Milo",
    "Rowan",
    "Tempo",
    "Vega",
    "Zephyr",
    "Arlo",
)
FILLER_SENTENCES = (
    "Free returns within 30 days.",
    "Ships in recycled packaging.",
    "Check the size guide before ordering.",
    "Care instructions are on the label.",
    "Part of this month's new arrivals.",
)


def category_counts(n_items: int) -> np.ndarray:
    """Items per category: ``CATEGORY_SHARE * n_items`` rounded by largest remainder (sums to n_items)."""
    exact = np.asarray(CATEGORY_SHARE) / sum(CATEGORY_SHARE) * n_items
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: n_items - counts.sum()]] += 1
    return counts


def sample_attributes(categories: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Colour, material, style, season, brand and price for items of the given category labels.

    Brands follow a Zipf-like share (rank r gets weight 1 / (r + 3)); an item takes one of its
    brand's two favourite styles with probability 0.6, else a style plausible for its category.
    Price = base price of the category x brand tier factor x material factor x LogNormal(0, 0.15),
    rounded to end in .99.
    """
    n = len(categories)
    names = np.array(CATEGORIES)[categories]
    colour_names = list(PALETTE)
    brand_weights = 1.0 / (np.arange(len(BRANDS)) + 3.0)
    brands = rng.choice(len(BRANDS), size=n, p=brand_weights / brand_weights.sum())

    colours, materials, styles, seasons = [], [], [], []
    for name, label, brand in zip(names, categories, brands, strict=True):
        colour_p = np.array(
            [
                COLOUR_SHARE[c] * (2.0 if name in EARTHY_CATEGORIES and c in EARTHY_COLOURS else 1.0)
                for c in colour_names
            ]
        )
        colours.append(colour_names[rng.choice(len(colour_names), p=colour_p / colour_p.sum())])
        options = MATERIALS_BY_CATEGORY[name]
        materials.append(options[rng.integers(len(options))])
        if rng.random() < 0.6:
            styles.append(BRANDS[brand][2][rng.integers(2)])
        else:
            styles.append(
                STYLES[rng.choice(len(STYLES), p=STYLE_WEIGHTS[label] / STYLE_WEIGHTS[label].sum())]
            )
        seasons.append(
            SEASONS[rng.choice(len(SEASONS), p=SEASON_WEIGHTS[label] / SEASON_WEIGHTS[label].sum())]
        )

    tiers = [BRANDS[b][1] for b in brands]
    price = (
        np.array([BASE_PRICE[c] for c in names])
        * np.array([TIER_PRICE_FACTOR[t] for t in tiers])
        * np.array([MATERIAL_PRICE_FACTOR.get(m, 1.0) for m in materials])
        * rng.lognormal(0.0, 0.15, size=n)
    )
    return pd.DataFrame(
        {
            "category_id": categories.astype(np.int64),
            "category": names,
            "colour": colours,
            "material": materials,
            "style": styles,
            "season": seasons,
            "brand": [BRANDS[b][0] for b in brands],
            "price": np.maximum(np.floor(price), 4) + 0.99,
        }
    )


def write_texts(attributes: pd.DataFrame, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """A title and a 2-4 sentence description per item; never a colour, never a shape detail."""
    tiers = {name: tier for name, tier, _ in BRANDS}
    titles, descriptions = [], []
    for row in attributes.itertuples(index=False):
        noun = _pick(NOUNS[row.category], rng)
        plural = row.category in PLURAL_CATEGORIES
        adjective = _pick(STYLE_ADJECTIVES[row.style], rng)
        material_phrase = _pick(MATERIAL_PHRASES[row.material], rng)
        template = rng.integers(5)
        if template == 0:
            title = f"{row.brand} {adjective} {row.material} {noun}"
        elif template == 1:
            title = f"{adjective} {row.material} {noun} by {row.brand}"
        elif template == 2:
            title = f"{row.brand} {noun} in {row.material}"
        elif template == 3:
            title = f"{row.brand} '{_pick(MODEL_NAMES, rng)}' {adjective} {noun}"
        else:
            title = f"The {adjective} {noun} - {row.brand}"
        titles.append(_capitalise(title))

        this, be = ("These", "are") if plural else ("This", "is")
        material_sentence = _pick(
            (
                f"Made from {material_phrase}.",
                f"Crafted in {material_phrase}.",
                f"{this} {noun} {be} cut from {material_phrase}.",
                f"{_capitalise(material_phrase)} {noun} with a comfortable feel.",
            ),
            rng,
        )
        sentences = [
            material_sentence,
            _pick(STYLE_SENTENCES[row.style], rng),
            _pick(SEASON_SENTENCES[row.season], rng),
        ]
        sentences = [sentences[i] for i in rng.permutation(3)]
        if rng.random() < 0.5:
            sentences.append(_pick(TIER_SENTENCES[tiers[row.brand]], rng).format(brand=row.brand))
        if rng.random() < 0.4:
            sentences.append(_pick(FILLER_SENTENCES, rng))
        descriptions.append(" ".join(sentences))
    return titles, descriptions


def colourise(grey: np.ndarray, colours: list[str], rng: np.random.Generator) -> np.ndarray:
    """Tint greyscale images: ``rgb = grey / 255 * tint``, tint = palette colour + N(0, 8) jitter.

    ``grey`` is (n, 28, 28) uint8 with a black background (Fashion-MNIST); returns (n, 28, 28, 3)
    uint8 with the background still black and the garment's shading kept.
    """
    tints = np.array([PALETTE[c] for c in colours], dtype=float) + rng.normal(
        0.0, 8.0, size=(len(colours), 3)
    )
    tints = np.clip(tints, 0, 255)  # (n, 3)
    rgb = grey[..., None].astype(float) / 255.0 * tints[:, None, None, :]  # (n, 28, 28, 3)
    return np.rint(rgb).astype(np.uint8)


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[rng.integers(len(options))]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
