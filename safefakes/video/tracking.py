"""Face tracks across video frames: what hides a face in the frames where the detector misses it.

A detector run frame by frame misses faces now and then (motion blur, a
turned head, a hand in front), and one frame in which a face is left clear is
enough to identify it. The frames are therefore not anonymized with their own
detections but with *tracks*:

1. **Matching.** Each frame's detections are matched to the open tracks
   greedily, best pair first, by the IoU of the detection with the track's
   last detected box moved by its last velocity (a constant-velocity guess);
   pairs below ``match_iou`` are not matched, unless the detection's centre
   lies within half the track box's size of the guess (a small, fast face can
   move by more than its size overlap allows). An unmatched detection opens a
   new track. A track not detected for more than ``2 * hold`` frames is closed.
2. **Filling the gaps.** Between two detections of a track at most
   ``2 * hold`` frames apart the box is interpolated linearly, frame by frame
   (a face found in frames t-k and t+k is covered in between, for k up to
   ``hold``); after a track's last detection its box is held ``hold`` frames
   (the face left the picture, turned away, or the detector lost it for
   good); before its first detection, it is held ``hold`` frames back (a face
   entering the picture is found late). Held boxes grow by ``hold_growth`` of
   their size per frame away from the detection, as the face may be moving.
3. **Smoothing.** The box of each frame is the mean of the track's boxes over
   ``smooth`` frames either side (a centred moving average: no lag, unlike an
   exponential average), grown about its centre by ``margin``, and then
   widened to contain the frame's own (detected, interpolated or held) box,
   so that the region never shrinks below a detection.

With ``detect_every`` n > 1 the detector looks at every n-th frame only
(and the last one), and the frames between are covered as gaps are: by
interpolation between the detections either side, and by holding a track's
box back from its first detection (a face entering between two looks).
This divides the detector's time by n; n is at most ``hold + 1``, so a
face found at one look is held up to the next.

Deciding a frame needs the detections of up to ``2 * hold + smooth`` later
frames (``FaceTracker.delay``: whether the face is found again, to
interpolate rather than hold), so the runner keeps that many frames in a
buffer (12 frames by default, 75 MB at 1080p): memory stays bounded
whatever the video's length. Everything here
is plain Python and numpy on boxes (x, y, w, h in pixels); the parameters
and their defaults are ``TrackParams``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: Track states per frame, as the records write them: detected, interpolated, held.
DETECTED, INTERPOLATED, HELD = "D", "I", "H"


@dataclass(frozen=True)
class TrackParams:
    """The tracker's settings, with their defaults (the CLI's ``--track-*`` flags)."""

    hold: int = 5  # frames a box is held after (and before) a track's detections; gaps of 2 * hold are bridged
    match_iou: float = 0.3  # a detection joins a track when its IoU with the track's guess is at least this
    smooth: int = 2  # centred moving average over this many frames either side
    margin: float = 1.1  # the smoothed box is grown about its centre by this factor
    hold_growth: float = 0.05  # a held box grows by this share of its size per frame away from its detection
    detect_every: int = 1  # the runner detects faces in every n-th frame (and the last); tracks fill the others

    def __post_init__(self) -> None:
        if int(self.hold) < 0 or int(self.smooth) < 0:
            raise ValueError(f"hold and smooth must be >= 0 frames, got {self.hold} and {self.smooth}")
        if not 0.0 < float(self.match_iou) <= 1.0:
            raise ValueError(f"match_iou must be in (0, 1], got {self.match_iou}")
        if float(self.margin) < 1.0:
            raise ValueError(f"margin must be >= 1 (a region never smaller than its box), got {self.margin}")
        if not 1 <= int(self.detect_every) <= int(self.hold) + 1:
            raise ValueError(f"detect_every must be 1 to hold + 1 = {int(self.hold) + 1} frames (a face between "
                             f"two looks must be bridged), got {self.detect_every}")
        if float(self.hold_growth) < 0:
            raise ValueError(f"hold_growth must be >= 0, got {self.hold_growth}")

    def describe(self) -> dict:
        return asdict(self)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), boxes x, y, w, h: an (N, M) array."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2]) - np.maximum(a[:, None, 0],
                                                                                              b[None, :, 0])
    iy = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3]) - np.maximum(a[:, None, 1],
                                                                                              b[None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _grow(box: np.ndarray, factor: float) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2 - w * factor / 2, y + h / 2 - h * factor / 2, w * factor, h * factor])


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = min(a[0], b[0]), min(a[1], b[1])
    x2, y2 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return np.array([x1, y1, x2 - x1, y2 - y1])


@dataclass
class Track:
    """One face over frames: its detections (frame -> box, score), newest last."""

    id: int
    detections: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)
    closed: bool = False

    @property
    def first(self) -> int:
        return next(iter(self.detections))

    @property
    def last(self) -> int:
        return next(reversed(self.detections))

    def guess(self, frame: int) -> np.ndarray:
        """Where the face should be at ``frame``: the last box moved at the last velocity."""
        frames = list(self.detections)
        box = self.detections[frames[-1]][0]
        if len(frames) < 2:
            return box
        prev_frame = frames[-2]
        prev = self.detections[prev_frame][0]
        velocity = (box - prev) / max(1, frames[-1] - prev_frame)
        velocity[2:] = 0  # move, do not resize
        return box + velocity * (frame - frames[-1])

    def raw_box(self, frame: int, params: TrackParams) -> tuple[np.ndarray, str] | None:
        """The box at ``frame`` before smoothing, and how it was found; None when the track does not cover it."""
        if frame in self.detections:
            return self.detections[frame][0], DETECTED
        before = [f for f in self.detections if f < frame]
        after = [f for f in self.detections if f > frame]
        a = before[-1] if before else None
        b = after[0] if after else None
        if a is not None and b is not None and b - a - 1 <= 2 * params.hold:
            t = (frame - a) / (b - a)
            return (1 - t) * self.detections[a][0] + t * self.detections[b][0], INTERPOLATED
        hold = int(params.hold)
        candidates = [(frame - a, a) for _ in [0] if a is not None and frame - a <= hold]
        candidates += [(b - frame, b) for _ in [0] if b is not None and b - frame <= hold]
        if not candidates:
            return None
        distance, source = min(candidates)
        return _grow(self.detections[source][0], 1.0 + params.hold_growth * distance), HELD


@dataclass
class FrameFaces:
    """The regions of one frame: boxes (N, 4, int x, y, w, h), their track ids and states (D, I, H), scores."""

    frame: int
    boxes: np.ndarray
    tracks: list[int]
    states: list[str]
    scores: list[float | None]


class FaceTracker:
    """Turns per-frame detections into per-frame track boxes, ``delay`` frames behind.

    ``push(frame, boxes, scores)`` for frames 0, 1, 2, ... in order returns
    the frames now decided (each a ``FrameFaces``), oldest first;
    ``finish()`` returns the rest. Every pushed frame comes out exactly once.
    """

    def __init__(self, params: TrackParams | None = None, width: int | None = None, height: int | None = None) -> None:
        self.params = params or TrackParams()
        self.width, self.height = width, height
        self.tracks: list[Track] = []
        self.next_id = 0
        self.pushed = 0  # frames pushed so far
        self.emitted = 0  # frames returned so far

    @property
    def delay(self) -> int:
        """Frames a frame waits for later detections before it is decided."""
        return 2 * int(self.params.hold) + int(self.params.smooth)

    def push(self, frame: int, boxes, scores=None) -> list[FrameFaces]:
        if frame != self.pushed:
            raise ValueError(f"frames must be pushed in order from 0: expected {self.pushed}, got {frame}")
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = [None] * len(boxes) if scores is None else [float(s) for s in np.asarray(scores).reshape(-1)]
        self._match(frame, boxes, scores)
        self.pushed += 1
        out = []
        while self.emitted + self.delay < self.pushed:
            out.append(self._decide(self.emitted))
            self.emitted += 1
        self._forget()
        return out

    def finish(self) -> list[FrameFaces]:
        out = []
        while self.emitted < self.pushed:
            out.append(self._decide(self.emitted))
            self.emitted += 1
        self.tracks = []
        return out

    def _match(self, frame: int, boxes: np.ndarray, scores: list) -> None:
        reach = 2 * int(self.params.hold) + 1
        for track in self.tracks:
            if not track.closed and frame - track.last > reach:
                track.closed = True
        open_tracks = [t for t in self.tracks if not t.closed]
        unmatched = set(range(len(boxes)))
        if open_tracks and len(boxes):
            guesses = np.array([t.guess(frame) for t in open_tracks])
            overlap = iou(guesses, boxes)
            centre_d = np.hypot(
                (guesses[:, None, 0] + guesses[:, None, 2] / 2) - (boxes[None, :, 0] + boxes[None, :, 2] / 2),
                (guesses[:, None, 1] + guesses[:, None, 3] / 2) - (boxes[None, :, 1] + boxes[None, :, 3] / 2))
            near = centre_d <= 0.5 * np.maximum(guesses[:, None, 2], guesses[:, None, 3])
            # A near pair without overlap ranks after every overlapping one, closest first.
            rank = np.where(overlap >= self.params.match_iou, 1.0 + overlap,
                            np.where(near, 1.0 / (1.0 + centre_d), -1.0))
            used_tracks = set()
            for flat in np.argsort(-rank, axis=None, kind="stable"):
                ti, di = np.unravel_index(flat, rank.shape)
                if rank[ti, di] < 0:
                    break
                if ti in used_tracks or di not in unmatched:
                    continue
                used_tracks.add(ti)
                unmatched.discard(di)
                open_tracks[ti].detections[frame] = (boxes[di].copy(), scores[di])
        for di in sorted(unmatched):
            self.tracks.append(Track(self.next_id, {frame: (boxes[di].copy(), scores[di])}))
            self.next_id += 1

    def _decide(self, frame: int) -> FrameFaces:
        params = self.params
        smooth = int(params.smooth)
        boxes, ids, states, scores = [], [], [], []
        for track in self.tracks:
            here = track.raw_box(frame, params)
            if here is None:
                continue
            box, state = here
            neighbours = [track.raw_box(f, params) for f in range(frame - smooth, frame + smooth + 1)]
            mean = np.mean([nb[0] for nb in neighbours if nb is not None], axis=0)
            region = _union(_grow(mean, float(params.margin)), box)
            boxes.append(self._clip(region))
            ids.append(track.id)
            states.append(state)
            det = track.detections.get(frame)
            scores.append(det[1] if det is not None else None)
        keep = [i for i, b in enumerate(boxes) if b[2] > 0 and b[3] > 0]
        return FrameFaces(frame, np.array([boxes[i] for i in keep], dtype=np.int64).reshape(-1, 4),
                          [ids[i] for i in keep], [states[i] for i in keep], [scores[i] for i in keep])

    def _clip(self, box: np.ndarray) -> np.ndarray:
        # Outwards to whole pixels, so that rounding never trims the region.
        x1, y1 = np.floor(box[0]), np.floor(box[1])
        x2, y2 = np.ceil(box[0] + box[2]), np.ceil(box[1] + box[3])
        if self.width is not None:
            x1, x2 = max(0.0, x1), min(float(self.width), x2)
        if self.height is not None:
            y1, y2 = max(0.0, y1), min(float(self.height), y2)
        return np.array([x1, y1, x2 - x1, y2 - y1])

    def _forget(self) -> None:
        """Drop what no frame still to decide can need: closed tracks past their hold, detections long past."""
        params = self.params
        horizon = self.emitted - int(params.smooth)  # the oldest frame a future decision looks at
        keep = []
        for track in self.tracks:
            if track.closed and track.last + int(params.hold) < horizon:
                continue
            # Interpolation back from a frame >= horizon needs the detections up to 2 * hold + 1 before it;
            # keep the last one before that reach in any case.
            cutoff = horizon - 2 * int(params.hold) - 1
            old = [f for f in track.detections if f < cutoff]
            for f in old[:-1]:
                del track.detections[f]
            keep.append(track)
        self.tracks = keep


def track_boxes(per_frame: list, params: TrackParams | None = None, width: int | None = None,
                height: int | None = None) -> list[FrameFaces]:
    """The tracked regions of a whole list of per-frame detections (each an (N, 4) box list): for tests and tools."""
    tracker = FaceTracker(params, width, height)
    out = []
    for frame, boxes in enumerate(per_frame):
        out.extend(tracker.push(frame, boxes))
    out.extend(tracker.finish())
    return out
