"""Review spam detection in two layers: cheap rules, then the trained text classifier.

Rules see the review and what Redis remembers of its neighbours (``neighbours``: the same
normalised text from other accounts, a burst of submissions from this account; one round
trip, no database query); the classifier (``models.spam``) is trained by the
``spam_classifier`` Dagster asset and loaded from the data dir when present.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import redis

from models.spam import ReviewSample, SpamClassifier, review_text
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys

log = logging.getLogger(__name__)

LINK_RE = re.compile(
    r"(https?://|www\.|\b[a-z0-9-]+\.(com|net|org|info|biz|ru|xyz|top|io|shop|click)\b)",
    re.IGNORECASE,
)
URL_RE = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
SHOUTED_WORD_RE = re.compile(r"\b[^\W\d_]{4,}\b")
#: Weight of each rule hit; hits combine as a noisy-or with the classifier's probability.
#: One link is common in genuine reviews (a brand's site); several links, or a link with a
#: word in capitals ("CHEAP"), are what link spam looks like.
RULE_WEIGHTS: dict[str, float] = {
    "links": 0.7,
    "many_links": 0.9,
    "repeated_text": 0.8,
    "shouting": 0.4,
    "shouted_word": 0.4,
    "burst": 0.5,
}
MANY_LINKS = 2
MIN_REPEAT_CHARS = 20


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def text_fingerprint(title: str | None, body: str | None) -> str | None:
    """Hash of the normalised text, or None when too short to call a repeat."""
    norm = normalized(review_text(title, body))
    if len(norm) < MIN_REPEAT_CHARS:
        return None
    return hashlib.sha256(norm.encode()).hexdigest()


def shouted_words(text: str) -> int:
    """Words of 4+ letters written all in capitals (URLs aside)."""
    return sum(w.isupper() for w in SHOUTED_WORD_RE.findall(URL_RE.sub(" ", text)))


def is_shouting(text: str) -> bool:
    """Mostly capitals (URLs aside, they are case-sensitive)."""
    letters = [c for c in URL_RE.sub(" ", text) if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7


@dataclass(frozen=True)
class Neighbours:
    repeated_elsewhere: bool
    """The same normalised text was submitted from another account (within REVIEW_TEXT_TTL_S)."""
    recent_by_user: int
    """This account's reviews submitted or edited in the burst window, this one included."""


def neighbours(
    client: redis.Redis | None,
    fingerprint: str | None,
    user_id: str,
    review_id: str,
    now: float,
    settings: Settings | None = None,
) -> Neighbours:
    """Record this submission and return what the repeat and burst rules need, in one
    atomic round trip. A submission is remembered even if its transaction later fails: an
    attempt counts. Without Redis both rules stay quiet (logged); the classifier still runs."""
    window = (settings or get_settings()).review_burst_window_s
    times = keys.review_submissions(user_id)
    if client is None:
        return Neighbours(False, 1)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(times, "-inf", now - window)
        pipe.zadd(times, {review_id: now})
        pipe.zcard(times)
        pipe.expire(times, window)
        if fingerprint is not None:
            accounts = keys.review_text_accounts(fingerprint)
            pipe.sadd(accounts, user_id)
            pipe.scard(accounts)
            pipe.expire(accounts, keys.REVIEW_TEXT_TTL_S)
        got = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("spam neighbour rules skipped, Redis unavailable: %s", exc)
        return Neighbours(False, 1)
    others = int(got[5]) - 1 if fingerprint is not None else 0
    return Neighbours(repeated_elsewhere=others > 0, recent_by_user=int(got[2]))


@dataclass(frozen=True)
class SpamVerdict:
    score: float
    rule_hits: list[str] = field(default_factory=list)
    classifier_score: float | None = None
    model_version: str | None = None
    threshold: float = 0.8
    """FLAGGED at or above: the serving classifier's threshold, else the setting."""

    @property
    def flagged(self) -> bool:
        return self.score >= self.threshold


def rule_hits(
    title: str | None, body: str | None, *, repeated_elsewhere: bool, recent_by_user: int
) -> list[str]:
    """Which rules a review trips. ``recent_by_user`` counts this account's reviews in the
    burst window, this one included."""
    text = review_text(title, body)
    hits = []
    links = sum(1 for token in text.split() if LINK_RE.search(token))
    if links >= MANY_LINKS:
        hits.append("many_links")
    elif links:
        hits.append("links")
    if repeated_elsewhere:
        hits.append("repeated_text")
    if is_shouting(text):
        hits.append("shouting")
    elif links and shouted_words(text):
        hits.append("shouted_word")
    if recent_by_user >= get_settings().review_burst_count:
        hits.append("burst")
    return hits


def combine(hits: list[str], classifier_score: float | None) -> float:
    keep = 1.0
    for hit in hits:
        keep *= 1.0 - RULE_WEIGHTS[hit]
    if classifier_score is not None:
        keep *= 1.0 - classifier_score
    return round(1.0 - keep, 6)


def classifier_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).models_dir / "spam" / "classifier.joblib"


_cache: dict[Path, tuple[float, SpamClassifier]] = {}
_lock = threading.Lock()


def load_classifier(settings: Settings | None = None) -> SpamClassifier | None:
    """The latest trained classifier (reloaded when its file changes), or None."""
    path = classifier_path(settings)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    with _lock:
        cached = _cache.get(path)
        if cached is None or cached[0] != mtime:
            try:
                _cache[path] = (mtime, SpamClassifier.load(path))
            except (ValueError, OSError, EOFError) as exc:
                log.warning("spam classifier at %s not used (%s); rules only", path, exc)
                return None
        return _cache[path][1]


def assess(
    title: str | None,
    body: str | None,
    *,
    repeated_elsewhere: bool,
    recent_by_user: int,
    rating: int | None = None,
    product_mean: float | None = None,
    author_reviews: int = 0,
) -> SpamVerdict:
    """The rules and the serving classifier (when one is trained) on one review."""
    hits = rule_hits(
        title, body, repeated_elsewhere=repeated_elsewhere, recent_by_user=recent_by_user
    )
    text = review_text(title, body)
    classifier = load_classifier() if text else None
    threshold = get_settings().review_flag_threshold
    if classifier is None:
        return SpamVerdict(combine(hits, None), hits, None, None, threshold)
    sample = ReviewSample(text, rating, product_mean, author_reviews)
    clf_score = round(float(classifier.score([sample])[0]), 6)
    return SpamVerdict(
        combine(hits, clf_score), hits, clf_score, classifier.version, classifier.threshold
    )
