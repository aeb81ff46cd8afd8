"""Superpixel colour smoothing as in the seed's data preparation, fast.

The seed paints every photo with the mean colours of SLIC superpixels merged by mean colour. In
scikit-image that pipeline is::

    labels = slic(grey3, n_segments=10000, sigma=5)
    rag = graph.rag_mean_color(rgb, labels)            # 8-connected, weight = |mean_i - mean_j|
    labels = graph.merge_hierarchical(labels, rag, thresh=35, merge_func=mean colour, ...)
    out = label2rgb(labels, rgb, kind="avg", bg_label=-1)  # no region treated as background

(:func:`reference_smooth`). It takes seconds per 224x224 photo, almost all of it in
``rag_mean_color`` and ``merge_hierarchical``, which walk a networkx graph in Python and call
``np.linalg.norm`` per edge. :func:`smooth` keeps scikit-image's SLIC but builds the adjacency with
numpy and runs the same greedy merge (always merge the closest pair of adjacent regions while
closer than ``thresh``, then recompute the merged region's distances) compiled with numba, with
the same tie order as scikit-image's heap. That is why it is hand-written: no library offers a
compiled hierarchical RAG merge. Agreement and speed are measured in benchmarks/bench_prepare.py
and tested against the reference.
"""

from __future__ import annotations

import numba
import numpy as np

DEFAULTS = {"n_segments": 10000, "sigma": 5.0, "thresh": 35.0}


def _grey3(rgb: np.ndarray, dtype) -> np.ndarray:
    from skimage.color import rgb2gray

    return np.repeat(rgb2gray(rgb).astype(dtype)[..., None], 3, axis=2)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be a uint8 array of shape (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return rgb


def reference_smooth(rgb: np.ndarray, n_segments: int = 10000, sigma: float = 5.0,
                     thresh: float = 35.0) -> np.ndarray:
    """The seed's pipeline with scikit-image's RAG functions (slow; for tests and benchmarks)."""
    from skimage import graph
    from skimage.color import label2rgb
    from skimage.segmentation import slic

    rgb = _check_rgb(rgb)
    labels = slic(_grey3(rgb, np.float64), n_segments=n_segments, sigma=sigma)

    def merge_mean_color(g, src, dst):
        g.nodes[dst]["total color"] += g.nodes[src]["total color"]
        g.nodes[dst]["pixel count"] += g.nodes[src]["pixel count"]
        g.nodes[dst]["mean color"] = g.nodes[dst]["total color"] / g.nodes[dst]["pixel count"]

    def weight_mean_color(g, src, dst, n):
        return {"weight": np.linalg.norm(g.nodes[dst]["mean color"] - g.nodes[n]["mean color"])}

    rag = graph.rag_mean_color(rgb, labels)
    merged = graph.merge_hierarchical(labels, rag, thresh=thresh, rag_copy=False,
                                      in_place_merge=True, merge_func=merge_mean_color,
                                      weight_func=weight_mean_color)
    return label2rgb(merged, rgb, kind="avg", bg_label=-1)


# --- the compiled merge ---------------------------------------------------------------------------


# The heap keeps each item's weight inline (hw) next to its index (hi) into an item table with
# rows (node a, node b, version a, version b); ties on weight fall back to (a, b), as the
# [weight, a, b, valid] lists in scikit-image's heap do.


@numba.njit(cache=True, inline="always")
def _less(hw, hi, items, i, j):
    if hw[i] != hw[j]:
        return hw[i] < hw[j]
    a, b = hi[i], hi[j]
    if items[a, 0] != items[b, 0]:
        return items[a, 0] < items[b, 0]
    return items[a, 1] < items[b, 1]


@numba.njit(cache=True, inline="always")
def _swap(hw, hi, i, j):
    hw[i], hw[j] = hw[j], hw[i]
    hi[i], hi[j] = hi[j], hi[i]


@numba.njit(cache=True, inline="always")
def _sift_up(hw, hi, items, i):
    while i > 0:
        p = (i - 1) // 2
        if not _less(hw, hi, items, i, p):
            break
        _swap(hw, hi, i, p)
        i = p


@numba.njit(cache=True, inline="always")
def _sift_down(hw, hi, items, size, i):
    while True:
        left, right, best = 2 * i + 1, 2 * i + 2, i
        if left < size and _less(hw, hi, items, left, best):
            best = left
        if right < size and _less(hw, hi, items, right, best):
            best = right
        if best == i:
            return
        _swap(hw, hi, i, best)
        i = best


@numba.njit(cache=True)
def _distance(mean, a, b):
    d0, d1, d2 = mean[a, 0] - mean[b, 0], mean[a, 1] - mean[b, 1], mean[a, 2] - mean[b, 2]
    return np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)


@numba.njit(cache=True)
def _merge(n, eu, ev, total, count, thresh):  # pragma: no cover  (compiled; tested via smooth)
    """scikit-image's merge_hierarchical with in-place mean-colour merging, on arrays.

    Neighbour lists live in one growing arena (start, length and capacity per node). Heap items carry both nodes' versions, so an item is stale
    once either node has merged since, exactly the edges scikit-image invalidates.
    """
    # initial neighbour lists from the edge list (CSR layout inside the arena)
    deg = np.zeros(n, np.int64)
    for k in range(eu.shape[0]):
        deg[eu[k]] += 1
        deg[ev[k]] += 1
    start = np.zeros(n, np.int64)
    for i in range(1, n):
        start[i] = start[i - 1] + deg[i - 1]
    arena = np.empty(4 * eu.shape[0] + 16, np.int64)
    slot = deg.copy()  # capacity of each node's list
    fill = np.zeros(n, np.int64)
    for k in range(eu.shape[0]):
        u, v = eu[k], ev[k]
        arena[start[u] + fill[u]] = v
        fill[u] += 1
        arena[start[v] + fill[v]] = u
        fill[v] += 1
    top = 2 * eu.shape[0]
    alive = np.ones(n, np.bool_)
    version = np.zeros(n, np.int64)
    parent = np.arange(n)
    stamp = np.full(n, -1, np.int64)
    mean = total / count.reshape(-1, 1)
    items = np.empty((eu.shape[0] + 16, 4), np.int64)
    hw = np.empty(eu.shape[0] + 16)
    hi = np.empty(eu.shape[0] + 16, np.int64)
    n_items = 0
    # Items at or above thresh are never pushed: the loop stops before it could pop them, so
    # leaving them out changes nothing but the heap's size. The initial heap is built in O(E).
    for k in range(eu.shape[0]):
        w = _distance(mean, eu[k], ev[k])
        if w < thresh:
            items[n_items, 0], items[n_items, 1], items[n_items, 2], items[n_items, 3] = \
                eu[k], ev[k], 0, 0
            hw[n_items], hi[n_items] = w, n_items
            n_items += 1
    size = n_items
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(hw, hi, items, size, i)
    merges = 0
    while size > 0 and hw[0] < thresh:
        first = hi[0]
        a, b, va, vb = items[first, 0], items[first, 1], items[first, 2], items[first, 3]
        size -= 1
        hw[0], hi[0] = hw[size], hi[size]
        _sift_down(hw, hi, items, size, 0)
        if not (alive[a] and alive[b] and version[a] == va and version[b] == vb):
            continue
        src, dst = a, b  # as scikit-image's in-place merge: the second node survives
        merges += 1
        total[dst] += total[src]
        count[dst] += count[src]
        mean[dst] = total[dst] / count[dst]
        alive[src] = False
        parent[src] = dst
        version[dst] += 1
        # The merged region's neighbour list: dst's own (compacted in place), then src's new ones.
        # It stays in dst's slot when it fits, else moves to a slot of twice the size at the end.
        new_deg = 0
        for q in range(deg[dst]):
            m = arena[start[dst] + q]
            if m != src:
                stamp[m] = merges
                arena[start[dst] + new_deg] = m
                new_deg += 1
        for q in range(deg[src]):
            m = arena[start[src] + q]
            if m == dst:
                continue
            # in m's own list: drop src if m already touches dst, else rename src to dst
            for r in range(deg[m]):
                if arena[start[m] + r] == src:
                    if stamp[m] == merges:
                        deg[m] -= 1
                        arena[start[m] + r] = arena[start[m] + deg[m]]
                    else:
                        arena[start[m] + r] = dst
                    break
            if stamp[m] != merges:
                stamp[m] = merges
                if new_deg == slot[dst]:
                    want = 2 * (new_deg + deg[src])
                    if top + want > arena.shape[0]:
                        bigger = np.empty(2 * (arena.shape[0] + want), np.int64)
                        bigger[:top] = arena[:top]
                        arena = bigger
                    arena[top:top + new_deg] = arena[start[dst]:start[dst] + new_deg]
                    start[dst], slot[dst] = top, want
                    top += want
                arena[start[dst] + new_deg] = m
                new_deg += 1
        deg[dst], deg[src] = new_deg, 0
        for q in range(new_deg):
            m = arena[start[dst] + q]
            w = _distance(mean, dst, m)
            if w < thresh:
                if n_items == items.shape[0]:
                    bigger_items = np.empty((2 * items.shape[0], 4), np.int64)
                    bigger_items[:n_items] = items[:n_items]
                    items = bigger_items
                if size == hw.shape[0]:
                    bigger_w, bigger_i = np.empty(2 * size), np.empty(2 * size, np.int64)
                    bigger_w[:size], bigger_i[:size] = hw[:size], hi[:size]
                    hw, hi = bigger_w, bigger_i
                items[n_items, 0], items[n_items, 1] = dst, m
                items[n_items, 2], items[n_items, 3] = version[dst], version[m]
                hw[size], hi[size] = w, n_items
                _sift_up(hw, hi, items, size)
                n_items += 1
                size += 1
    for i in range(n):  # resolve each label to its surviving region, compressing paths
        r = i
        while parent[r] != r:
            r = parent[r]
        while parent[i] != r:
            parent[i], i = r, parent[i]
    return parent


def _adjacent_pairs(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique (u < v) label pairs that touch in the 8-neighbourhood."""
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :]),
                 (labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])):
        a, b = a.ravel(), b.ravel()
        diff = a != b
        u, v = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
        pairs.append(u.astype(np.int64) * n + v)
    codes = np.unique(np.concatenate(pairs))
    return codes // n, codes % n


def merge_regions(labels: np.ndarray, rgb: np.ndarray, thresh: float) -> np.ndarray:
    """Greedy mean-colour merge of a label image; returns the merged labels (H, W)."""
    labels = np.asarray(labels)
    _, inverse = np.unique(labels, return_inverse=True)
    labels = inverse.reshape(labels.shape).astype(np.int64)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)
    total = np.stack([np.bincount(flat, weights=rgb[..., c].ravel().astype(np.float64), minlength=n)
                      for c in range(3)], axis=1)
    if n == 1:
        return labels
    eu, ev = _adjacent_pairs(labels, n)
    root = _merge(n, eu, ev, total, count, float(thresh))
    return root[labels]


def paint_mean(labels: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Paint each region with its mean colour, truncated to uint8 as ``label2rgb(kind="avg")``."""
    _, inverse = np.unique(labels, return_inverse=True)
    flat = inverse.ravel()
    count = np.bincount(flat).astype(np.float64)
    means = np.stack([np.bincount(flat, weights=rgb[..., c].ravel().astype(np.float64)) / count
                      for c in range(3)], axis=1)
    return means.astype(rgb.dtype)[flat].reshape(rgb.shape)


def smooth(rgb: np.ndarray, n_segments: int = 10000, sigma: float = 5.0,
           thresh: float = 35.0) -> np.ndarray:
    """Paint a photo with the mean colours of SLIC superpixels merged by mean colour.

    Gives the seed pipeline's result (:func:`reference_smooth`) at a fraction of the time.

    Parameters
    ----------
    rgb : ndarray, (H, W, 3) uint8
        The photo.
    n_segments : int
        SLIC's target number of superpixels (on the grey image, as the seed).
    sigma : float
        Gaussian pre-smoothing of SLIC.
    thresh : float
        Adjacent regions whose mean colours (0-255 RGB) are closer than this are merged.

    Returns
    -------
    ndarray, (H, W, 3) uint8
        Every merged region painted with its mean colour.

    Examples
    --------
    >>> quad = np.zeros((32, 32, 3), np.uint8)
    >>> quad[:16, 16:] = (255, 0, 0); quad[16:, :16] = (0, 255, 0); quad[16:, 16:] = (0, 0, 255)
    >>> len(np.unique(smooth(quad, n_segments=64, sigma=0).reshape(-1, 3), axis=0))
    4
    """
    from skimage.segmentation import slic

    rgb = _check_rgb(rgb)
    labels = slic(_grey3(rgb, np.float32), n_segments=n_segments, sigma=sigma)
    return paint_mean(merge_regions(labels, rgb, thresh), rgb)
