"""Three roles for the images a search may look at: validation chooses, confirmation judges, test reports.

The best of N architectures scored on the same validation images is optimistic by construction
(the winner's curse: the maximum of N noisy scores). A claim about it ("better than random") is
therefore judged on images that took no part in choosing it: the *confirmation* images, which
neither trained the supernet nor scored the search. They are taken, in this order, from
1. the spare training images: images of the source's training set that the supernet never trains
   on (left out by `train_limit`; `ImageData.x_spare`, in a seeded order), which costs the search
   nothing;
2. the end of the validation split, beyond the images the search scores:

       [ 0 .......... search ) ....... [ available - from_val ....... available )
         the search scores these          the confirmation takes these

Taking them from the end keeps the search's own images those it always had (the first
`val_images`), so a run saved before confirmation existed scores exactly as it did. Only when the
split is too small for both does the search give some up: the confirmation takes at most half of
it. The test split is reported once and used by nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValidationParts:
    """Where the search's and the confirmation's images lie: the first `search` of a validation
    split of `available`, its last `from_val`, and the first `from_spare` spare training images."""

    available: int
    search: int
    from_val: int
    from_spare: int = 0

    @property
    def confirm(self) -> int:
        return self.from_val + self.from_spare

    @property
    def confirm_start(self) -> int:
        """Where the confirmation's images begin in the validation split."""
        return self.available - self.from_val

    def disjoint(self) -> bool:
        return self.search <= self.confirm_start


def validation_parts(available: int, val_images: int | None, confirm_images: int, spare: int = 0) -> ValidationParts:
    """The cut for a search that validates on `val_images` of a validation split of `available`
    (None: as many as it can) and wants `confirm_images` to confirm its verdict, with `spare`
    training images that nothing trains on."""
    if min(available, confirm_images, spare) < 0 or (val_images is not None and val_images < 1):
        raise ValueError(f"image counts must be positive: {available}, {val_images}, {confirm_images}, {spare}")
    from_spare = min(confirm_images, spare)
    from_val = min(confirm_images - from_spare, available // 2)
    search = available - from_val if val_images is None else min(val_images, available - from_val)
    return ValidationParts(available, search, from_val, from_spare)
