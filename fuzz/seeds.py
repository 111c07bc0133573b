#!/usr/bin/env python3
"""Writes seed corpora for the file-format fuzz targets into fuzz/corpus/<target>/
from the repository's test data plus small well-formed files built here (no
NumPy needed). Checkpoint and weights seeds come from the `nn` binary:

    python3 fuzz/seeds.py [path/to/nn]          # everything
    python3 fuzz/seeds.py --only-nn [path/to/nn]  # only the weights and checkpoint seeds
"""
import io, os, struct, subprocess, sys, tempfile, zipfile, zlib, glob, shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy(descr, shape, payload, fortran=False):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", "(%s)" % "".join("%d," % s for s in shape) if shape else "()")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def pickle_lists(rows):
    """A pickled NumPy object array of lists of ints, opcode for opcode as
    np.save writes Keras's imdb.npz (built by hand: no NumPy needed)."""
    def lst(r):
        return b"](" + b"".join(b"K" + bytes([v]) for v in r) + b"e"
    return (b"\x80\x03cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02C\x01bq\x03\x87q\x04Rq\x05"
            b"(K\x01K" + bytes([len(rows)]) + b"\x85q\x06cnumpy\ndtype\nq\x07X\x02\x00\x00\x00O8q\x08K\x00K\x01\x87q\tRq\n"
            b"(K\x03X\x01\x00\x00\x00|q\x0bNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tq\x0cb\x89"
            b"](" + b"".join(lst(r) for r in rows) + b"etq\rb.")


def idx(magic, dims, data):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def png(w, h, rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def npz(members, deflate=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name + ".npy", data)
    return buf.getvalue()


def main():
    only_nn = "--only-nn" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--only-nn"]
    if not only_nn:
        files()
    nn = args[0] if args else os.path.join(ROOT, "target", "release", "nn")
    if not os.path.exists(nn):
        print("no nn binary at %s: no weights or checkpoint seeds (build it, then run with --only-nn)" % nn)
        return
    from_nn(nn)


def files():
    for t in ["npy", "npz", "pickle", "idx", "csv", "image_folder"]:
        shutil.rmtree(os.path.join(CORPUS, t), ignore_errors=True)
    f32 = npy("<f4", (2, 3), struct.pack("<6f", *range(6)))
    u8 = npy("|u1", (2, 2, 2), bytes(range(8)))
    i64 = npy("<i8", (3,), struct.pack("<3q", 0, 1, 2))
    f64f = npy("<f8", (2, 2), struct.pack("<4d", 1, 2, 3, 4), fortran=True)
    obj = npy("|O", (2,), pickle_lists([[1, 2, 3], [4]]))
    for i, a in enumerate([f32, u8, i64, f64f, obj]):
        put("npy", "a%d.npy" % i, a)
    put("npz", "xy.npz", npz([("x", f32), ("y", npy("<i8", (2,), struct.pack("<2q", 0, 1)))]))
    put("npz", "xy_deflated.npz", npz([("x", u8), ("y", npy("|u1", (2,), b"\x00\x01")), ("x_test", u8)], True))
    put("npz", "imdb.npz", npz([("x_train", obj), ("y_train", npy("<i8", (2,), struct.pack("<2q", 0, 1)))]))
    put("pickle", "lists.pkl", pickle_lists([[1, 2, 3], [4], []]))
    import pickle
    put("pickle", "nested.pkl", pickle.dumps(((1, 2), [3, (4, "a")], {"k": b"v"}, None, True, 1.5), protocol=4))
    put("pickle", "npy_object.pkl", obj[obj.index(b"\n") + 1:])
    # Deep enough to reach the nesting limits: 200,000 nested 1-tuples and lists.
    put("pickle", "deep_tuples.pkl", b"\x80\x02K\x01" + b"\x85" * 200000 + b".")
    put("pickle", "deep_lists.pkl", b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b".")
    put("idx", "images.idx", idx(0x803, [2, 2, 2], range(8)) + idx(0x801, [2], [0, 1]))
    put("idx", "images_gz.idx", zlib.compress(idx(0x803, [1, 2, 2], range(4))))
    import gzip
    put("idx", "gzip.idx", gzip.compress(idx(0x803, [2, 3, 3], range(18))) + gzip.compress(idx(0x801, [2], [1, 0])))
    for path in glob.glob(os.path.join(ROOT, "runtime/tests/data/*.csv")) + glob.glob(os.path.join(ROOT, "tests/cli/*.csv")):
        with open(path, "rb") as f:
            put("csv", os.path.basename(path), f.read()[:65536])
    put("csv", "weighted.csv", b"a;b;w;y\n1;2;0.5;cat\n3;4;1;dog\n")
    sep = b"\n--file--\n"
    put("image_folder", "two_classes", sep.join([b"cat/a.png\n" + png(3, 2, (255, 0, 0)),
                                                 b"dog/b.png\n" + png(2, 2, (0, 255, 0))]))
    put("image_folder", "flat", b"a.png\n" + png(4, 4, (9, 9, 9)))


def from_nn(nn):
    """Weights and checkpoints (end-of-epoch and mid-epoch) from a real run of the targets' model."""
    src = open(os.path.join(ROOT, "fuzz", "fuzz_targets", "common", "mod.rs")).read()
    model = src[src.index('"model fuzz') + 1: src.index('}";') + 1].replace(
        "metrics = [accuracy]", 'metrics = [accuracy]\n        dataset = "iris"')
    with tempfile.TemporaryDirectory() as tmp:
        open(os.path.join(tmp, "m.nn"), "w").write(model)
        subprocess.run([nn, "fit", "m.nn", "--epochs", "2", "--verbose", "0", "--save", "w.st",
                        "--checkpoint", "c.ckpt", "--checkpoint-every", "5"], cwd=tmp, check=True)
        for name, target in [("w.st", "weights"), ("c.ckpt", "checkpoint"), ("c.ckpt", "weights")]:
            put(target, name, open(os.path.join(tmp, name), "rb").read())


if __name__ == "__main__":
    main()
