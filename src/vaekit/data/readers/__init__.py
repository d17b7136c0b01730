"""File readers, one module per format: IDX (`idx`), amat (`amat`), .npy/.npz (`arrays`), CSV (`table`) and image
folders (`images`), on the bytes of a file gunzipped or plain (`raw`).

Readers turn one file (or folder) into numpy arrays and raise `DataError` naming the file, the problem and the fix
for anything a user could have got wrong. They know nothing about named datasets or splits (that is
`vaekit.data.named`, `vaekit.data.user` and `vaekit.data.splits`), nor about value encodings
(`vaekit.data.transforms`); which reader reads which user file is `vaekit.data.user`'s table of suffixes.
"""

from vaekit.data.readers.amat import read_amat
from vaekit.data.readers.arrays import MAX_NPZ_MEMBERS, read_npy, read_npz
from vaekit.data.readers.idx import read_idx
from vaekit.data.readers.images import IMAGE_SUFFIXES, read_image_folder
from vaekit.data.readers.raw import GZIP_FLOOR, GZIP_RATIO, read_bytes
from vaekit.data.readers.table import header_row, is_number, read_csv

__all__ = ["GZIP_FLOOR", "GZIP_RATIO", "IMAGE_SUFFIXES", "MAX_NPZ_MEMBERS", "header_row", "is_number", "read_amat",
           "read_bytes", "read_csv", "read_idx", "read_image_folder", "read_npy", "read_npz"]
