"""Scoring for the kinds that only answer verified matches (same, picturebook).

Scores are on one scale for every call so that users can set thresholds:
1.0 = the very same image (same cont_sign); PDQ near-identical copies 0.79..0.99 by Hamming
distance, and whole-frame copies (features.frames) 0.79..0.99 by content agreement;
geometrically verified partial copies 0.60..0.95 by number of inliers, and parts aligned
without keypoints (features.alignment) 0.60..0.90 by content agreement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from tusou.engine.describe import Box, Descriptors
from tusou.engine.kinds import KindSpec
from tusou.engine.references import References
from tusou.features import PDQ_MATCH_DISTANCE, GeometricMatch, Keypoints, frame_match, verify
from tusou.features.alignment import DenseProbe, box_cover, refined
from tusou.features.frames import Area, ContentMatch, query_areas
from tusou.features.keypoints import (
    COLOUR_TOLERANCE,
    PERIODIC,
    agreement,
    colour_agreement,
    colour_spread,
    hue_blind,
    periodicity,
    refitted,
    vividness_agreement,
    weakest_cells,
)
from tusou.features.pages import (
    MIN_QUICK,
    WEAKEST_SHARE,
    PageView,
    in_focus,
    page_match,
    quick_agreement,
)
from tusou.index.keypoint_table import HeldKeypoints, KeypointTable

# Below this PDQ quality the hash of a flat image says little; verify with keypoints too.
PDQ_MIN_QUALITY = 50
# Matches accepted on close agreement with few inliers (KindSpec.agreeing_min_inliers) need a
# reference less periodic than this: a few inliers on a checkerboard fit any other one of its
# period, and agree in content (0.95-0.99 measured on generated checkerboards, at 0.97).
# Every true close-agreement match of the picturebook suite was on a reference at <= 0.82.
MAX_PERIODICITY = PERIODIC
# A periodic reference is still answered when the query also has its colours where it has
# them (keypoints.colour_agreement, share of the overlap): another pattern of its period in
# other colours does not.
MIN_COLOUR_AGREEMENT = 0.9
# The keypoint-free look answers parts only: a placement covering more than this share of
# the reference is a whole copy, which the whole-frame look judges at its exact positions.
# Freed to shift and turn, a whole generated page lined up with another page of its template
# (a plaid illustration of the same period) at 0.957; the parts it finds cover at most 0.51.
MAX_DENSE_COVER = 0.8
# A fit from too few inliers is refined (KindSpec.refined_min_inliers), and a keypoint-free
# placement that does not count as it is (``last_look``), only where it already agrees this
# much. Keypoint fits: of every first-look fit of 5+ inliers in the `same` and `picturebook`
# suites (2026-12-05), the true ones that refining made count agreed 0.37 or more unrefined
# (the one under 0.5, a 55 % page photo, the second look finds by 155 inliers), the wrong
# ones under 0.5 in 94 % (picturebook) and 99 % (same) of cases; each refining costs
# about 20-40 ms of ECC. Keypoint-free placements (benchmarks/studies/dense_refined.py,
# `same`, 2026-12-05, every candidate of the 287 queries that reach the last look): of 300
# placements agreeing 0.4+, the wrong ones that refining kept and that could be trusted
# agreed at most 0.910 (their weakest cells 0.14 or less); the true ones it made count
# started at 0.62 and 0.77.
MIN_ROUGH_AGREEMENT = 0.5
# ... keypoint-free placements from this much, as low as that study refined them: laid
# affine, a flat picture's part seen in perspective agrees less than a keypoint fit of it
# (the scanned page's 40 % photo, `same` seed 2: 0.494 laid affine, 0.989 refined, its
# weakest cells 0.993).
MIN_ROUGH_PLACEMENT = 0.4
# ... and the query's middle's (alignment.MIDDLE) from this much: a page that runs out of the
# frame is seen close, in more perspective than the affine placement lays (`same` seed 13's
# 80 % photo of the horse silhouette: its middle 0.322 laid, 0.986 refined).
MIN_ROUGH_MIDDLE = 0.3
# ... and a placement of it counts only where the whole photo, laid as its middle is, leaves
# some of the reference out (covers at most this share of it; ``DenseProbe.frame_cover``):
# the page runs out of the frame. The middle of a whole copy is a part too, but whole copies
# are the whole-frame look's and the page look's to judge (MAX_DENSE_COVER). Judged once
# refined: a coarse placement's scale is only roughly right. (80 % photos whose page's edge
# runs just out of the frame: `same` seed 13's horse silhouette 0.96, `picturebook` seed
# 15's colour wheel 0.985.)
MIDDLE_WHOLE = 0.99
# ... the best this many of them (by agreement as they lie) that refining can move (ECC
# converges within its bounds), until one counts: with four placements judged, a wrong one
# can lie better than the true one (a striped texture's 40 % photo, `same` seed 3: a wrong
# placement 0.728, its refining failing; the true one 0.536, refined 0.962) ...
REFINED_PLACEMENTS = 2
# ... of the best this many: a placement refining cannot move is none of those it may try
# (a generated page's 40 % photo of a smooth landscape, `same` seed 4: the three that lay
# best, 0.73-0.76, could not be refined; the fourth, 0.715, refined to 0.989, its weakest
# cells 0.996).
REFINE_TRIES = 4
# A part that agrees under the dense bar in content still counts where its colours pin it:
# they vary over the overlap by COLOURFUL_SPREAD or more (``keypoints.colour_spread``, twice
# the colour tolerance) and the query has them in COLOURFUL_SHARE of it, from
# COLOURFUL_AGREEMENT up. A smooth picture's parts agree a little under the bar in content
# (gradients are few) while every part and colour agrees: the colour wheel's crops 0.76 /
# 0.94, spread 71-73. Over every candidate the last look judges on the same suite
# (2026-12-05: 99 placements at 0.7+ after refining, 48 wrong), no wrong one kept both its
# weakest cells (>= 0.9) and its colours (>= 0.9): the best wrong colours 0.934, with cells
# -0.28 and spread 1.2; with cells >= 0.9 the best wrong colours 0.086
# (benchmarks/studies/colourful_parts.py; re-run with colours compared as the photo's
# exposure shows them: the same placements, with cells >= 0.9 the best wrong colours
# 0.445). Such a part scores dense_score's floor, 0.6.
# A photographed page under the page look's bar counts the same way (``_page_counts``),
# in every part as the keypoint-free look's parts must (COLOURFUL_CELLS, same's
# dense_cells; the page look's own page_cells is lower): pages of one book that agree as a
# whole kept their weakest cells at 0.705 or less (kinds.py).
COLOURFUL_AGREEMENT = 0.75
COLOURFUL_SPREAD = 2 * COLOUR_TOLERANCE
COLOURFUL_SHARE = 0.95
COLOURFUL_CELLS = 0.9
# Inliers at which a verified match's score saturates.
INLIERS_FOR_MAX = 100


@dataclass(frozen=True)
class Match:
    """A scored library image; verified matches also say where and how well they agreed."""

    id: int
    score: float
    box: Box | None = None
    inliers: int | None = None
    # The weakest evidence, answered only where no later look finds more (``settled``): a
    # few inliers whose fit was refined by content (KindSpec.refined_min_inliers), or a
    # photographed page that agrees only compared coarser (``pages.PAGE_COARSER``).
    weak: bool = False


def pdq_score(distance: int) -> float:
    return round(0.99 - 0.2 * min(distance, PDQ_MATCH_DISTANCE) / PDQ_MATCH_DISTANCE, 6)


def inlier_score(inliers: int, min_inliers: int) -> float:
    """0.60 at ``min_inliers`` (and for matches accepted with fewer, on close agreement)
    up to 0.95 at INLIERS_FOR_MAX."""
    span = max(INLIERS_FOR_MAX - min_inliers, 1)
    return round(0.6 + 0.35 * min(1.0, max(0, inliers - min_inliers) / span), 6)


def frame_score(agreement: float, min_agreement: float) -> float:
    """0.79 at ``min_agreement`` up to 0.99 at perfect agreement: the band of PDQ's
    near-identical copies, which a whole-frame match is."""
    span = max(1.0 - min_agreement, 1e-9)
    return round(0.79 + 0.2 * min(1.0, max(0.0, agreement - min_agreement) / span), 6)


def dense_score(agreement: float, min_agreement: float) -> float:
    """0.60 at ``min_agreement`` up to 0.90 at perfect agreement: a part of a picture, or a
    photographed page, found with less evidence than keypoints give (no inlier count), so
    never above 0.90."""
    span = max(1.0 - min_agreement, 1e-9)
    return round(0.6 + 0.3 * min(1.0, max(0.0, agreement - min_agreement) / span), 6)


def accepted(match: GeometricMatch, spec: KindSpec, query: Keypoints, ref: Keypoints) -> bool:
    """Whether a geometric match of ``query`` on ``ref`` counts: enough inliers and agreeing
    content, or (kinds with ``agreeing_min_inliers``) fewer inliers, closely agreeing content
    and a reference that is not a repeated pattern, or is one in the query's colours."""
    if match.agreement is None:
        # keypoints stored before thumbnails: inliers alone (or a fit under
        # spec.judged_from, not compared, which does not count as it is)
        return match.inliers >= spec.min_inliers
    if match.inliers >= spec.min_inliers:
        return match.agreement >= spec.min_agreement
    return (0 < spec.agreeing_min_inliers <= match.inliers
            and match.agreement >= spec.close_agreement
            and _trusted(query, ref, match.homography))


Deferred = list[tuple[Keypoints, GeometricMatch]]


def _best_geometry(probes: Sequence[Keypoints], ref: Keypoints, spec: KindSpec,
                   min_cells: float | None, deferred: Deferred) -> GeometricMatch | None:
    """The best keypoint match of one of ``probes`` on ``ref`` that counts as it is
    (``accepted``, and its weakest cells ``min_cells`` where given, as fitted or, from few
    inliers, refined: ``_realigned``); fits from too few
    inliers go to ``deferred`` with their probe, for the caller to refine
    (``_best_refined``) only if nothing else counts."""
    best: GeometricMatch | None = None
    for probe in probes:
        match = verify(probe, ref, min_inliers=spec.inlier_floor, judge_from=spec.judged_from)
        if match is None or (best is not None and match.inliers <= best.inliers):
            continue
        if not accepted(match, spec, probe, ref):
            if match.inliers < spec.min_inliers:
                deferred.append((probe, match))
            continue
        if _cells_agree(match, probe, ref, min_cells):
            best = match
        elif (realigned := _realigned(match, spec, probe, ref, min_cells)) is not None:
            best = realigned
    return best


def _realigned(match: GeometricMatch, spec: KindSpec, probe: Keypoints, ref: Keypoints,
               min_cells: float | None) -> GeometricMatch | None:
    """A match from fewer than ``spec.min_inliers`` that counts but for its weakest cells,
    its fit refined by content (``alignment.refined``), where it then still agrees
    ``spec.close_agreement`` and may be trusted, and its weakest cells agree ``min_cells``;
    else None. A fit to a few keypoints is right only near them, and the cells far from
    them can disagree where the picture does not (a generated page's 40 % photo,
    `picturebook` seed 3: 15 inliers, agreement 0.963, its weakest cells 0.72 as fitted and
    0.89 refined). Another page of the book is another picture there, however laid."""
    if min_cells is None or match.agreement is None or match.inliers >= spec.min_inliers:
        return None
    out = _refit_by_content(match, spec, probe, ref)
    return out if out is not None and _cells_agree(out, probe, ref, min_cells) else None


def _refit_by_content(match: GeometricMatch, spec: KindSpec, query: Keypoints, ref: Keypoints
                      ) -> GeometricMatch | None:
    """``match`` with its fit refined by content (``alignment.refined``), where it then
    agrees at least ``spec.close_agreement`` (gradients and grey levels) and may be trusted
    (``_trusted``); else None."""
    better = refined(query, ref, match.homography)
    if better is None:
        return None
    out = refitted(match, *better, query, ref)
    if (out is None or out.agreement is None or out.agreement < spec.close_agreement
            or not _trusted(query, ref, out.homography)):
        return None
    return out


def _best_refined(fits: Deferred, spec: KindSpec, ref: Keypoints, min_cells: float | None
                  ) -> GeometricMatch | None:
    """The fit of ``fits`` (deferred by ``_best_geometry``) with the most inliers that
    counts once refined by content (``_refined``, and ``min_cells``), or None."""
    counted = [m for probe, fit in fits
               if (m := _refined(fit, spec, probe, ref)) is not None
               and _cells_agree(m, probe, ref, min_cells)]
    return max(counted, key=lambda m: m.inliers, default=None)


def reach_verified(spec: KindSpec, probes: Sequence[Keypoints], ref: Keypoints
                   ) -> tuple[GeometricMatch | None, bool]:
    """A reached candidate verified by keypoints as the last look verifies it: by the first
    look's rules and in its weakest cells (``spec.reach_cells``) or, where only too few
    inliers fit, refined by content; and whether it was so refined (weak evidence)."""
    fits: Deferred = []
    match = _best_geometry(probes, ref, spec, spec.reach_cells, fits)
    if match is not None or not fits:
        return match, False
    return _best_refined(fits, spec, ref, spec.reach_cells), True


def _cells_agree(match: GeometricMatch, probe: Keypoints, ref: Keypoints,
                 min_cells: float | None) -> bool:
    if min_cells is None or match.agreement is None:
        # Keypoints stored before thumbnails: inliers alone, as ``accepted`` judges them.
        return True
    cells = weakest_cells(probe, ref, match.homography, WEAKEST_SHARE)
    return cells is not None and cells >= min_cells


def _refined(match: GeometricMatch, spec: KindSpec, query: Keypoints, ref: Keypoints
             ) -> GeometricMatch | None:
    """A match from too few inliers to count as it is (``spec.refined_min_inliers``), its
    fit refined by content, where it then agrees closely in grey levels, in every part and
    in colour; else None."""
    if not 0 < spec.refined_min_inliers <= match.inliers < spec.min_inliers:
        return None
    rough = match.agreement if match.agreement is not None else agreement(query, ref, match.homography)
    if rough is None or rough < MIN_ROUGH_AGREEMENT:
        return None
    out = _refit_by_content(match, spec, query, ref)
    return out if out is not None and _whole(spec.refined_cells, query, ref, out.homography) else None


def verify_geometry(spec: KindSpec, probes: Sequence[Keypoints], ids: Sequence[int], refs: References,
                    min_cells: float | None = None, *, refine: bool = True) -> list[Match]:
    """The ``ids`` whose stored keypoints agree with one of ``probes`` (the query, and its
    mirror image) on a plausible homography, scored by their inliers; with ``min_cells``,
    only where the weakest cells (``keypoints.weakest_cells`` at the page look's
    WEAKEST_SHARE) agree that much too: a photographed page seen square-on matches the
    type, frame and margins of another page of its book by keypoints. Fits from too few
    inliers are refined by content only where nothing else counts, and ``refine`` asks it
    (a query a hash already answered need not pay for them)."""
    if not ids or not probes:
        return []
    out = []
    deferred: dict[int, tuple[Keypoints, Deferred]] = {}
    for image_id, ref in refs.keypoints(ids):
        fits: Deferred = []
        match = _best_geometry(probes, ref, spec, min_cells, fits)
        if match is not None:
            out.append(Match(image_id, inlier_score(match.inliers, spec.min_inliers), match.box,
                             match.inliers))
        elif fits:
            deferred[image_id] = (ref, fits)
    if out or not refine or not spec.refined_min_inliers:
        return out
    for image_id, (ref, fits) in deferred.items():
        best = _best_refined(fits, spec, ref, min_cells)
        if best is not None:
            out.append(Match(image_id, inlier_score(best.inliers, spec.min_inliers), best.box,
                             best.inliers, weak=True))
    return out


def verify_frames(spec: KindSpec, query: Keypoints, ids: Sequence[int], refs: References
                  ) -> list[Match]:
    """The ``ids`` whose stored thumbnail the query's whole picture agrees with, in one of
    its eight quarter-turned or mirrored positions (``spec.frame_agreement``), in grey
    levels or, with its hues turned, in value (``_hue_turned``)."""
    if not ids or not spec.frame_agreement or query.image is None:
        return []
    out = []
    areas = query_areas(query)
    blind = hue_blind(query)
    blind_areas = query_areas(blind) if blind is not None else []
    for image_id, ref in refs.keypoints(ids):
        match = frame_match(query, ref, spec.frame_agreement, areas)
        if match is None and blind is not None:
            match = _hue_turned(spec, query, blind, blind_areas, ref)
        if match is not None:
            out.append(Match(image_id, frame_score(match.agreement, spec.frame_agreement),
                             match.box))
    return out


def _hue_turned(spec: KindSpec, query: Keypoints, blind: Keypoints, areas: Sequence[Area],
                ref: Keypoints) -> ContentMatch | None:
    """The whole-frame match of ``query`` (``blind``: its ``hue_blind`` copy, with its
    ``query_areas``) on ``ref`` as a copy with its hues turned: in value, which a hue
    rotation keeps (``spec.frame_agreement``), and as vivid everywhere
    (MIN_COLOUR_AGREEMENT), which it keeps too and another picture of like values need
    not. Measured (`same` suite, seed 3, 2026-12-06; every query against its first look's
    candidates): the 78 hue-shifted copies agreed in value 0.879-1.0 (77 from 0.95; in grey
    levels from 0.742), as vivid in 0.947+ of their overlap; the best wrong candidate
    agreed 0.844 in value (a grey copy of one generated page on another of its template),
    an unrelated query's 0.436."""
    blind_ref = hue_blind(ref)
    if blind_ref is None:
        return None
    match = frame_match(blind, blind_ref, spec.frame_agreement, areas)
    if match is None:
        return None
    vivid = vividness_agreement(query, ref, match.homography)
    return match if vivid is not None and vivid >= MIN_COLOUR_AGREEMENT else None


def _trusted(query: Keypoints, ref: Keypoints, homography: np.ndarray, *,
             greys: bool = False) -> bool:
    """Whether an answer that rests on content alone (``query`` laid on ``ref`` by
    ``homography``) may be given: ``ref`` has a thumbnail, and does not repeat a pattern
    (MAX_PERIODICITY) or the query also has its colours (MIN_COLOUR_AGREEMENT). Grey levels
    line any pattern up with another of its period. With ``greys``, a grey pattern's
    colours are its greys: the query must be grey there too (the caller knows the
    placement tells it from other grey patterns of its period)."""
    if ref.image is None:
        return False
    if periodicity(ref.image) < MAX_PERIODICITY:
        return True
    colour = colour_agreement(query, ref, homography, greys=greys)
    return colour is not None and colour >= MIN_COLOUR_AGREEMENT


def last_look(spec: KindSpec, query: Keypoints, ids: Sequence[int], refs: References,
              reach: Sequence[int] = (), probes: Sequence[Keypoints] = (),
              details: References | None = None) -> list[Match]:
    """The last look, best first: the ``ids`` (or the ``spec.dense_keep`` of them that the
    query slides over best, upright) that the query lines up with, without
    keypoints, as a part (``spec.dense_agreement``, and ``spec.dense_cells`` in every part
    and the colours: ``_whole``); and the ``max(spec.reach_keep, spec.reach_verify)`` of
    ``reach`` (more candidates) that the query, upright, slides over best at the coarse
    scale, each verified by keypoints with ``probes`` as the first look's candidates are
    (and in its weakest cells, ``spec.reach_cells``), the best ``spec.reach_keep`` of them
    then also as the ``ids``: a crop whose vector ranks its original far down can still
    have the corners to verify, where its content, resampled, agrees a little under the
    dense bar. References that repeat a pattern need the query's colours to agree too
    (``_trusted``): any pattern of the same period lines up. Where none of that answers,
    the ``ids`` judged, the first ``spec.detail_tried`` of ``ids`` (best vector first) and
    the best-sliding ``spec.detail_reach`` of ``reach`` are verified as the reach is
    against their ``details`` (keypoints at full size), where stored."""
    judged = ids if spec.dense_agreement else []
    if not (judged or reach) or query.image is None:
        return []
    probe = DenseProbe(query)
    # (id, reference, verified by keypoints, judged without them)
    looked = [(image_id, ref, False, True) for image_id, ref in dense_judged(spec, probe, judged, refs)]
    if reach and spec.reach_keep:
        # (the reach's blobs are read once for both, in either order: with their
        # descriptors here, or with References.with_descriptors)
        voted = best_voted(query, reach, spec.reach_voted, spec.reach_vote_min, refs)
        looked += [(image_id, ref, True, rank < spec.reach_keep) for rank, (image_id, ref) in enumerate(
            best_sliding(probe, reach, max(spec.reach_keep, spec.reach_verify), refs))]
        slid = {image_id for image_id, *_ in looked}
        looked += [(image_id, ref, True, False) for image_id, ref in voted if image_id not in slid]
    out: list[Match] = []
    # parts that count only where they alone line up: grey patterns (their greys are their
    # colours) and, with spec.dense_grey_alone, any part where colour cannot tell
    grey_patterns: list[Match] = []
    for image_id, ref, far, dense in looked:
        geometric, weak = reach_verified(spec, probes, ref) if far else (None, False)
        if geometric is not None:
            out.append(Match(image_id, inlier_score(geometric.inliers, spec.min_inliers),
                             geometric.box, geometric.inliers, weak=weak))
            if not weak:  # a refined few may still align better as a part
                continue
        if not (spec.dense_agreement and dense):
            continue
        placed = probe.matches(ref)
        if placed:
            match = _counted_part(spec, probe, query, ref, placed)
        else:  # the whole query slides nowhere: its middle may (alignment.MIDDLE)
            match = _counted_part(spec, probe, query, ref, probe.matches(ref, middle=True), MIN_ROUGH_MIDDLE)
            if match is not None and probe.frame_cover(match.homography, ref) > MIDDLE_WHOLE:
                match = None
        if match is not None:
            found = Match(image_id, dense_score(match.agreement, spec.dense_agreement), match.box)
            alone = not _trusted(query, ref, match.homography) or (
                spec.dense_grey_alone and colour_agreement(query, ref, match.homography) is None)
            (grey_patterns if alone else out).append(found)
    if not out and len(grey_patterns) == 1:
        # A part of a grey pattern lines up with every grey pattern of its period, as
        # parts: one that lines up with a single picture of those judged is that one.
        out = grey_patterns
    if not out and details is not None and spec.detail_keypoints:
        closest = [image_id for image_id, _, far, _ in looked if not far]
        closest += ids[:spec.detail_tried]
        closest += [image_id for image_id, _, far, _ in looked if far][:spec.detail_reach]
        out = verify_geometry(spec, probes, list(dict.fromkeys(closest)), details, spec.reach_cells)
    return merged(out)


def _counted_part(spec: KindSpec, probe: DenseProbe, query: Keypoints, ref: Keypoints,
                  placed: list[ContentMatch], floor: float = MIN_ROUGH_PLACEMENT) -> ContentMatch | None:
    """The placement of ``placed`` (best first) that counts as a part (``_part``): the best
    one as laid, or else the first of the best REFINE_TRIES that counts once refined (at
    most REFINED_PLACEMENTS refined, agreeing ``floor`` at least as laid); None if none
    does."""
    if not placed:
        return None
    match = _in_focus(placed[0], spec, query, ref)
    if _part(match, spec, query, ref, greys=True):
        return match
    moved = 0
    for rough in placed[:REFINE_TRIES]:
        if rough.agreement < floor or moved == REFINED_PLACEMENTS:
            break
        better = probe.refine(rough, ref)
        if (better is None or better.agreement < rough.agreement) and _vivid(query, ref, rough):
            # A smooth colourful picture's gradients are its few edges and noise: its
            # grey levels lay it (the colour wheel's partial photos, 40 drawn: 31 found
            # refined on gradients alone, 36 so; `same` seed 2's, 0.765 laid, 0.80 so).
            better = probe.refine(rough, ref, levels=True) or better
        if better is None:
            continue
        moved += 1
        better = _in_focus(better, spec, query, ref)
        if better.agreement >= rough.agreement and _part(better, spec, query, ref, greys=True):
            return better
    return None


def _in_focus(match: ContentMatch, spec: KindSpec, query: Keypoints, ref: Keypoints) -> ContentMatch:
    """``match`` judged also against the reference's thumbnail blurred as a photo out of
    focus is (``pages.in_focus``, as the page look judges a page), where it agrees under
    ``spec.dense_agreement`` as laid: the best of them counts. A photographed window is
    blurrier than the thumbnail (the camera's focus, and the smoothing that shrinks the
    photo onto it), and sharp edges then lose their gradients' agreement: `picturebook`
    seed 14's chessboard window, refined, 0.939 as laid, 0.985 against the thumbnail
    blurred 1 px."""
    if match.agreement >= spec.dense_agreement:
        return match
    best = in_focus(query, ref, match.homography, match.agreement)
    return replace(match, agreement=best) if best > match.agreement else match


def _part(match: ContentMatch, spec: KindSpec, query: Keypoints, ref: Keypoints, *,
          greys: bool = False) -> bool:
    """Whether a placement of ``query`` on ``ref`` without keypoints counts, as a part:
    it agrees ``spec.dense_agreement`` (or is pinned by its colours: ``_colourful``),
    covers at most MAX_DENSE_COVER of the reference, may be trusted (``_trusted``, with
    ``greys``) and agrees in every part and colour (``_whole``)."""
    return (box_cover(match.box, ref) <= MAX_DENSE_COVER
            and (match.agreement >= spec.dense_agreement or _colourful(match, query, ref))
            and _trusted(query, ref, match.homography, greys=greys)
            and _whole(spec.dense_cells, query, ref, match.homography))


def _vivid(query: Keypoints, ref: Keypoints, match: ContentMatch) -> bool:
    """Whether the reference's colours vary where ``match`` lays the query as much as a
    colourful part's must (COLOURFUL_SPREAD): a smooth picture's part, which only its
    colours can pin (``_colourful``), and whose gradients are its few edges and noise."""
    spread = colour_spread(query, ref, match.homography)
    return spread is not None and spread >= COLOURFUL_SPREAD


def _colourful(match: ContentMatch, query: Keypoints, ref: Keypoints) -> bool:
    """Whether a placement under the dense bar is pinned by its colours (COLOURFUL_*)."""
    if match.agreement < COLOURFUL_AGREEMENT or not _vivid(query, ref, match):
        return False
    colour = colour_agreement(query, ref, match.homography)
    return colour is not None and colour >= COLOURFUL_SHARE


def _whole(bar: float | None, query: Keypoints, ref: Keypoints, homography: np.ndarray) -> bool:
    """Whether every part of the placement agrees (``keypoints.weakest_cells`` at the page
    look's share) at least ``bar`` and, where colour can tell, the query has the
    reference's colours (MIN_COLOUR_AGREEMENT) whether or not it repeats a pattern; None
    asks nothing."""
    if bar is None:
        return True
    cells = weakest_cells(query, ref, homography, WEAKEST_SHARE)
    if cells is None or cells < bar:
        return False
    colour = colour_agreement(query, ref, homography)
    return colour is None or colour >= MIN_COLOUR_AGREEMENT


def dense_judged(spec: KindSpec, probe: DenseProbe, ids: Sequence[int], refs: References
                 ) -> list[tuple[int, Keypoints]]:
    """The candidates tried that the last look judges without keypoints, with their stored
    keypoints: every one of ``ids``, or (``spec.dense_keep``) the best-sliding of them."""
    if ids and spec.dense_keep:
        return best_sliding(probe, ids, spec.dense_keep, refs)
    return list(refs.keypoints(ids))


def best_sliding(probe: DenseProbe, ids: Sequence[int], keep: int, refs: References
                 ) -> list[tuple[int, Keypoints]]:
    """The ``keep`` of ``ids`` that the probe's query slides over best (``reached``), best
    first, with their stored keypoints."""
    kept = [image_id for _, image_id in reached(probe, refs.thumbnails(ids), keep)]
    return list(refs.keypoints(kept))


def best_voted(query: Keypoints, ids: Sequence[int], keep: int, min_votes: int, refs: References
               ) -> list[tuple[int, Keypoints]]:
    """The ``keep`` of ``ids`` that most of ``query``'s keypoints vote for (at least
    ``min_votes``), voted over those images alone, best first, with their stored keypoints."""
    if keep <= 0 or not ids or len(query) == 0:
        return []
    table = KeypointTable()
    table.load(HeldKeypoints(refs.descriptors(ids)))
    voted = table.votes(query.descriptors, keep, min_votes=min_votes)
    return list(refs.keypoints([image_id for image_id, _ in voted]))


def reached(probe: DenseProbe, thumbnails: Iterable[tuple[int, np.ndarray | None]], keep: int
            ) -> list[tuple[float, int]]:
    """The ``keep`` of ``thumbnails`` (id, stored grey thumbnail or None) that the probe's
    query slides over best, upright (``DenseProbe.upright``), best first: (coarse
    correlation, id)."""
    return _best_thumbnails(probe.upright, thumbnails, keep)


def page_reached(page: PageView, thumbnails: Iterable[tuple[int, np.ndarray | None]], keep: int
                 ) -> list[int]:
    """The ``keep`` of ``thumbnails`` (id, stored grey thumbnail or None) that the
    photographed ``page`` agrees with best in the page look's quick comparison
    (``pages.quick_agreement``, at least ``pages.MIN_QUICK``), best first."""
    best = _best_thumbnails(partial(quick_agreement, page), thumbnails, keep)
    return [image_id for agreement, image_id in best if agreement >= MIN_QUICK]


def _best_thumbnails(score: Callable[[np.ndarray], float],
                     thumbnails: Iterable[tuple[int, np.ndarray | None]], keep: int
                     ) -> list[tuple[float, int]]:
    """The ``keep`` best-scoring of ``thumbnails`` (those that have one), best first (ties by
    id, so that the order does not depend on how the store returned them): (score, id)."""
    scored = [(score(thumb), image_id) for image_id, thumb in thumbnails if thumb is not None]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return scored[:keep]


def verify_pages(spec: KindSpec, pages: Sequence[PageView], ids: Sequence[int], refs: References
                 ) -> list[Match]:
    """The ``ids`` whose whole picture one of the photographed ``pages`` is
    (``spec.page_agreement``, ``spec.page_cells``), best first. References that repeat a
    pattern need the page's colours to agree too, as in the keypoint-free look: an outline
    found around a checkerboard printed on a page laid a generated checkerboard of as many
    squares (other colours) on it at 0.983. A grey pattern's colours are its greys: the
    page is the whole picture, and only a picture of as many periods lines up whole."""
    if not ids or not pages or not spec.page_agreement:
        return []
    out = []
    floor = min(spec.page_agreement, COLOURFUL_AGREEMENT)
    for image_id, ref in refs.keypoints(ids):
        found = [m for page in pages
                 if (m := page_match(page, ref, floor, spec.page_cells, bar=spec.page_agreement)) is not None
                 and _page_counts(m, page, ref, spec)]
        if found:
            # A page that agrees as it is outweighs one that agrees only coarser.
            best = max(found, key=lambda m: (not m.coarse, m.agreement))
            out.append(Match(image_id, dense_score(best.agreement, spec.page_agreement), best.box,
                             weak=best.coarse))
    return rank_matches(out)


def _page_counts(match: ContentMatch, page: PageView, ref: Keypoints, spec: KindSpec) -> bool:
    """Whether the page look's ``match`` of ``page`` on ``ref`` counts: it agrees
    ``spec.page_agreement`` and may be trusted (greys as colours), or it is under that bar
    but pinned by its colours as a colourful part is (``_colourful``, whose colours also
    make it trusted on a repeated pattern), in every part (COLOURFUL_CELLS, ``_whole``). A
    photographed smooth picture agrees a little under the bar in content for the same
    reason as its parts: the colour wheel's 55 % photo, laid right, 0.88, its weakest cells
    0.99 and colours 0.999."""
    laid = match.homography @ page.to_photo
    if match.agreement >= spec.page_agreement:
        return _trusted(page.query, ref, laid, greys=True)
    on_page = ContentMatch(match.agreement, laid, match.box)
    return _colourful(on_page, page.query, ref) and _whole(COLOURFUL_CELLS, page.query, ref, laid)


def verify_candidates(spec: KindSpec, query: Descriptors, *, exact_id: int | None,
                      pdq_hits: Mapping[int, int], candidates: list[int], refs: References
                      ) -> list[Match]:
    """Decide which candidates really are the query's image (or a part of it), best first.

    ``pdq_hits`` maps ids to their smallest dihedral PDQ distance (already <= the match
    distance); ``candidates`` come from the global vector; ``refs`` reads stored local
    features, asked only for the ids that still need geometric verification. When no
    keypoint match counts, the same candidates are compared whole-frame (verify_frames).
    """
    quality_ok = bool(query.pdq) and query.pdq[0].quality >= PDQ_MIN_QUALITY
    results: dict[int, Match] = {}
    if exact_id is not None:
        results[exact_id] = Match(exact_id, 1.0)
    if quality_ok:
        for image_id, distance in pdq_hits.items():
            if image_id not in results:
                results[image_id] = Match(image_id, pdq_score(distance))
    to_verify = [i for i in dict.fromkeys([*pdq_hits, *candidates]) if i not in results]
    probes = query.probes
    found = verify_geometry(spec, probes, to_verify, refs, spec.keypoint_cells,
                            refine=not results)
    if not settled(found) and not results and query.keypoints is not None:
        # Nothing verified: perhaps a whole copy of a picture keypoints cannot hold on to.
        found = merged(found, verify_frames(spec, query.keypoints, to_verify, refs))
    for match in found:
        results[match.id] = match
    return rank_matches(results.values())


def rank_matches(matches: Iterable[Match]) -> list[Match]:
    return sorted(matches, key=lambda v: (-v.score, -(v.inliers or 0), v.id))


def settled(matches: Iterable[Match]) -> bool:
    """Whether ``matches`` answer the query so that no later look need try: any match but
    a weak one does (``Match.weak``). Those are kept, but a later look may find more (a
    phone photo's page by 155 inliers at 0.95, where the first look refined 17)."""
    return any(not m.weak for m in matches)


def merged(*looks: Iterable[Match]) -> list[Match]:
    """The matches of several looks, each image at its best, best first."""
    best: dict[int, Match] = {}
    for look in looks:
        for match in look:
            if match.id not in best or rank_matches([match, best[match.id]])[0] is match:
                best[match.id] = match
    return rank_matches(best.values())
