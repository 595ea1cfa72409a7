"""The course's data: the Fashion Shop (shipped), MovieLens-100k (found locally) and the user simulator.

Usage::

    from course_utils.data import load_fashion_shop, load_movielens_100k

    shop = load_fashion_shop()            # verifies sha256 checksums; ~1 s
    shop.items                            # item_id, category_id, category, colour, material, style,
                                          # season, brand, price, title, description, fashion_mnist_index
    shop.images                           # uint8 (4000, 28, 28, 3), RGB; images[i] is item i
    shop.texts                            # "<title>. <description>" per item, for a text encoder
    shop.impressions                      # user, item, position, timestamp, clicked (popularity-biased logs)
    data = shop.interactions              # Interactions (below)
    data.train, data.valid, data.test     # binary CSR (n_users, n_items), per-user temporal 80/10/10 split
    data.train_sequences                  # tuple of chronological item-id arrays, one per user
    data.sequences(("train", "valid"))    # history to condition on when predicting test
    data.evaluation_users("test")         # users with at least one test item

    sim = shop.simulator                  # the "true user" (UserSimulator), e.g. for notebook 12
    sim.relevance(users)                  # (n_users, n_items) click probability once seen
    sim.click(users, slates, rng)         # bool (n_users, k); slates: int (n_users, k), best first
    sim.utility(users, slates)            # (n_users,) expected clicks, redundancy-discounted

    ml = load_movielens_100k()            # local copy, else the recbole wheel's copy; never the web
    ml.ratings, ml.movies, ml.users       # movies: item, movie_id, title, year, genres (lists)
    ml.interactions                       # ratings >= 4 as implicit feedback, same Interactions API

Modalities of the Fashion Shop: colour and shape only in ``images``; material, style, season
and brand only in the text; category in both (see ``datasets/fashion_shop/README.md``).
"""

from course_utils.data.fashion_shop import FashionShop, load_fashion_shop, verify_fashion_shop
from course_utils.data.interactions import Interactions
from course_utils.data.movielens import MovieLens100k, load_movielens_100k, locate_movielens_100k
from course_utils.data.simulate import UserSimulator, log_impressions

__all__ = [
    "FashionShop",
    "Interactions",
    "MovieLens100k",
    "UserSimulator",
    "load_fashion_shop",
    "load_movielens_100k",
    "locate_movielens_100k",
    "log_impressions",
    "verify_fashion_shop",
]
