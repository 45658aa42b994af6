"""Reviews and their moderation: the labelled set a spam classifier trains on.

About 25 % of paid order lines get a ``review.submitted`` 2-20 days later. The rating
follows the buyer's taste for the item's category plus the item's hidden quality, so
liked categories rate higher. Spam (~5 % of reviews, and at least ~1.5 a day) comes from a
few spam accounts in bursts: shared promo lines, links, SHOUTING, off-topic praise; each
spam review carries a random subset of these cues, and legitimate reviews sometimes carry
one (capitals, a brand website), so no single token decides. Each review gets ``review.approved`` or
``review.rejected`` (reason "spam") 10 minutes to 12 hours later; labels are noisy:
~8 % of spam slips through and ~1 % of genuine reviews are rejected as spam.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from shopflow.synth import vocab
from shopflow.synth.commerce import Paid
from shopflow.synth.emit import DayEvents
from shopflow.synth.population import DAY_US, FAVOURITES
from shopflow.synth.world import World, uniform_us

REVIEW_RATE = 0.25
SPAM_SHARE = 0.055  # spam reviews per genuine review
#: Spam accounts post about this many reviews a day even in a small shop, so that the demo
#: shop's moderation decisions hold enough spam labels to train the classifier.
MIN_SPAM_PER_DAY = 1.5
SPAM_MISSED = 0.08
GENUINE_REJECTED = 0.01


def write_reviews(world: World, day: int, out: DayEvents, paid: Paid) -> None:
    rng = world.rng(day, 4)
    catalog, users = world.catalog, world.users
    when = paid.at_us + uniform_us(rng, 2 * 86400, 20 * 86400, len(paid.item))
    pick = np.flatnonzero((rng.random(len(paid.item)) < REVIEW_RATE) & (when < world.end_us))
    user, item, when = paid.user[pick], paid.item[pick], when[pick]
    taste = users.taste(user, catalog.leaf[item]) * FAVOURITES
    mean = 3.7 + 0.5 * np.log(taste + 0.1) + catalog.quality[item]
    rating = np.clip(np.rint(mean + rng.normal(0, 0.8, len(pick))), 1, 5).astype(np.int64)
    verified = rng.random(len(pick)) < 0.9
    titles, bodies = _genuine_texts(world, rng, item, rating)

    n_spam = rng.poisson(max(SPAM_SHARE * len(pick), MIN_SPAM_PER_DAY))
    spammers = np.flatnonzero(users.spammer & (users.reg_day <= day))
    if not len(spammers):
        n_spam = 0
    bursts = world.day_start_us(day) + rng.integers(0, DAY_US - 3_600_000_000, max(1, n_spam // 6))
    s_when = bursts[rng.integers(0, len(bursts), n_spam)] + uniform_us(rng, 0, 1800, n_spam)
    s_user = spammers[rng.integers(0, max(1, len(spammers)), n_spam)] if n_spam else spammers[:0]
    s_item = catalog.sample(rng, rng.choice(len(catalog.leaves), n_spam, p=catalog.leaf_weight))
    s_rating = np.where(rng.random(n_spam) < 0.85, 5, 1)
    s_titles, s_bodies = _spam_texts(world, rng, s_item)

    spam = np.r_[np.zeros(len(pick), bool), np.ones(n_spam, bool)]
    n = len(spam)
    review = dict(
        review_id=out.ids("r", n, 7),
        item_id=catalog.item_ids.take(pa.array(np.r_[item, s_item].astype(np.int64))),
        rating=np.r_[rating, s_rating].astype(np.int64),
        title=pa.array(titles + s_titles, pa.string()),
        body=pa.array(bodies + s_bodies, pa.string()),
        verified_purchase=np.r_[verified, rng.random(n_spam) < 0.15],
    )
    all_user = np.r_[user, s_user].astype(np.int64)
    all_when = np.r_[when, s_when].astype(np.int64)
    out.add("review.submitted", all_when, all_user, None, **review)

    rejected = np.where(spam, rng.random(n) > SPAM_MISSED, rng.random(n) < GENUINE_REJECTED)
    decided = all_when + uniform_us(rng, 600, 12 * 3600, n)
    for event_type, mask, reason in (
        ("review.approved", ~rejected, None),
        ("review.rejected", rejected, "spam"),
    ):
        idx = np.flatnonzero(mask)
        sel = pa.array(idx)
        out.add(
            event_type,
            decided[idx],
            all_user[idx],
            None,
            **{k: (v.take(sel) if isinstance(v, pa.Array) else v[idx]) for k, v in review.items()},
            reason=reason,
        )


def _genuine_texts(
    world: World, rng: np.random.Generator, item: np.ndarray, rating: np.ndarray
) -> tuple[list[str], list[str]]:
    n = len(item)
    picks = rng.integers(0, 1 << 30, (n, 6))
    shout = rng.random(n) < 0.03
    website = rng.random(n) < 0.01
    titles, bodies = [], []
    for i in range(n):
        leaf = world.catalog.leaves[world.catalog.leaf[item[i]]]
        mood = "pos" if rating[i] >= 4 else "mid" if rating[i] == 3 else "neg"
        noun = leaf.nouns[picks[i, 0] % len(leaf.nouns)]
        sentences = vocab.REVIEW_SENTENCES[mood]
        chosen = [sentences[p % len(sentences)] for p in picks[i, 1 : 2 + picks[i, 5] % 2 + 1]]
        body = " ".join(
            s.format(noun=noun, feature=leaf.features[picks[i, 4] % len(leaf.features)])
            for s in dict.fromkeys(chosen)
        )
        title = vocab.REVIEW_TITLES[mood][picks[i, 2] % len(vocab.REVIEW_TITLES[mood])]
        title = title.format(noun=noun)
        if shout[i]:
            title = title.upper() + "!!"
        if website[i]:
            brand = world.catalog.brand[item[i]].lower().replace(" ", "")
            body += f" Same price as on www.{brand}.com."
        titles.append(title)
        bodies.append(body)
    return titles, bodies


def _spam_texts(
    world: World, rng: np.random.Generator, item: np.ndarray
) -> tuple[list[str], list[str]]:
    n = len(item)
    cues = rng.random((n, 4)) < np.array([0.55, 0.45, 0.7, 0.3])  # link, shout, promo, on-topic
    none = ~cues[:, [0, 1, 2]].any(axis=1)
    cues[none, 2] = True
    picks = rng.integers(0, 1 << 30, (n, 4))
    titles, bodies = [], []
    for i in range(n):
        parts = [vocab.SPAM_FILLERS[picks[i, 0] % len(vocab.SPAM_FILLERS)]]
        if cues[i, 3]:
            leaf = world.catalog.leaves[world.catalog.leaf[item[i]]]
            parts.insert(0, f"Nice {leaf.nouns[0]}.")
        if cues[i, 2]:
            parts.append(vocab.SPAM_PROMOS[picks[i, 1] % len(vocab.SPAM_PROMOS)] + "!")
        if cues[i, 0]:
            parts.append(vocab.SPAM_LINKS[picks[i, 2] % len(vocab.SPAM_LINKS)])
        body = " ".join(parts)
        title = vocab.SPAM_FILLERS[picks[i, 3] % len(vocab.SPAM_FILLERS)]
        if cues[i, 1]:
            title, body = title.upper(), body.upper()
        titles.append(title)
        bodies.append(body)
    return titles, bodies
