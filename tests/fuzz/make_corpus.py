#!/usr/bin/env python3
"""Builds the committed seed corpora of the fuzz harnesses (tests/fuzz/corpus/NAME/) from the real
fixtures of the test suite (tests/formats, tests/golden, tests/tokenizer, configs) plus a few small
synthetic files for the formats the suite writes at run time (shards, GLUE TSV, SCROLLS JSONL) and for
paths the fixtures do not reach (deflated and ZIP64 zip entries, chunked Flax arrays).
Standard library only. Run from anywhere; it rewrites the corpus directories."""
import gzip, io, json, os, shutil, struct, zipfile, zlib

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(name, file, data):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, file), "wb") as f:
        f.write(data)


def read(*p):
    with open(os.path.join(ROOT, *p), "rb") as f:
        return f.read()


# ---- config: model configs, training configs, HF config.json files
def config():
    for f in ["bigs-tiny.json", "bigs-small.json", "bert-base.json", "demo.json", "grid-stack-ssm.json", "grid-gated-attention.json"]:
        put("config", f, read("configs", f))
    for d in ["bert_hf", "flax_mlm", "torch_bigs"]:
        put("config", d + "-config.json", read("tests", "formats", d, "config.json"))
    put("config", "id2label.json", json.dumps({"model_type": "bert", "hidden_act": "gelu_new", "classifier_dropout": None,
        "id2label": {"0": "neg", "1": "pos"}, "position_embedding_type": "absolute", "architectures": ["BertForSequenceClassification"]}).encode())


# ---- safetensors: small real fixtures
def safetensors():
    for p in [("tests", "formats", "bert_expected.safetensors"), ("tests", "formats", "torch_views_expected.safetensors"),
              ("tests", "golden", "op_gather.safetensors"), ("tests", "golden", "hippo.safetensors"), ("tests", "golden", "op_mse.safetensors")]:
        put("safetensors", p[-1], read(*p))
    # every dtype once, and metadata
    hdr, data = {"__metadata__": {"format": "pt", "adamw_step": "7"}}, b""
    for dt, size in [("BOOL", 1), ("U8", 1), ("I8", 1), ("I16", 2), ("U16", 2), ("F16", 2), ("BF16", 2), ("I32", 4), ("U32", 4), ("F32", 4), ("I64", 8), ("U64", 8), ("F64", 8)]:
        hdr["t_" + dt] = {"dtype": dt, "shape": [2, 1], "data_offsets": [len(data), len(data) + 2 * size]}
        data += bytes(range(1, 2 * size + 1))
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    put("safetensors", "dtypes.safetensors", struct.pack("<Q", len(h)) + h + data)


# ---- flax: the two real checkpoints, and a chunked array
def mp_str(s):
    b = s.encode()
    return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b


def mp_array_leaf(shape, dtype, raw, ext=1):
    payload = bytes([0x90 | 3, 0x90 | len(shape)]) + bytes(shape) + mp_str(dtype) + b"\xc4" + bytes([len(raw)]) + raw
    return b"\xc7" + bytes([len(payload), ext]) + payload


def flax():
    put("flax", "flax_cls.msgpack", read("tests", "formats", "flax_cls", "flax_model.msgpack"))
    put("flax", "flax_mlm.msgpack", read("tests", "formats", "flax_mlm", "flax_model.msgpack"))
    chunk0, chunk1 = mp_array_leaf([2], "float32", struct.pack("<2f", 1, 2)), mp_array_leaf([1], "float32", struct.pack("<f", 3))
    chunked = (b"\x83" + mp_str("__msgpack_chunked_array__") + b"\xc3" + mp_str("shape") + b"\x81" + mp_str("0") + b"\x03" +
               mp_str("chunks") + b"\x82" + mp_str("0") + chunk0 + mp_str("1") + chunk1)
    leaf16 = mp_array_leaf([2, 2], "float16", struct.pack("<4e", 1, -2, 0.5, 65504))
    tree = (b"\x81" + mp_str("params") + b"\x83" + mp_str("big") + chunked + mp_str("half") + leaf16 +
            mp_str("scalar") + mp_array_leaf([], "float32", struct.pack("<f", 0.25), ext=3))
    put("flax", "chunked.msgpack", tree)


# ---- torchzip: the real archives, and the small one re-packed deflated and as ZIP64
def torchzip():
    put("torchzip", "torch_views.bin", read("tests", "formats", "torch_views.bin"))
    put("torchzip", "torch_bigs.bin", read("tests", "formats", "torch_bigs", "pytorch_model.bin"))
    src = zipfile.ZipFile(io.BytesIO(read("tests", "formats", "torch_views.bin")))
    for kind in ["deflated", "zip64"]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if kind == "deflated" else zipfile.ZIP_STORED) as z:
            for info in src.infolist():
                fixed = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible bytes
                fixed.compress_type = z.compression
                with z.open(fixed, "w", force_zip64=kind == "zip64") as w:
                    w.write(src.read(info.filename))
        put("torchzip", "torch_views_" + kind + ".bin", buf.getvalue())


# ---- shard: the format of data/shard.h
def shard_file(seqs, vocab=1000, max_len=16, block_seqs=2, blocks=None):
    data, index = b"", b""
    if blocks is None:  # else given as (uncompressed bytes, sequence count)
        blocks = []
        for i in range(0, len(seqs), block_seqs):
            raw = b"".join(struct.pack("<I", len(s)) + struct.pack("<%dI" % len(s), *s) for s in seqs[i:i + block_seqs])
            blocks.append((raw, len(seqs[i:i + block_seqs])))
    pos = 60
    for raw, n in blocks:
        c = zlib.compress(raw, 6)
        index += struct.pack("<QIIII", pos, len(c), len(raw), n, zlib.crc32(c))
        data += c
        pos += len(c)
    h = b"BIGSSHRD" + struct.pack("<IIQIQQIQ", 1, vocab, 0xABC, max_len, sum(n for _, n in blocks), sum(map(len, seqs)), len(blocks), pos)
    h += struct.pack("<I", zlib.crc32(h))
    return h + data + index + struct.pack("<I", zlib.crc32(index))


def shard():
    put("shard", "small.bin", shard_file([[101, 7, 8, 102], [101, 9, 102], [5] * 16, [], [999]]))
    put("shard", "empty.bin", shard_file([]))
    put("shard", "one_block.bin", shard_file([[1, 2, 3]] * 5, vocab=30522, max_len=128, block_seqs=8))
    # raw block content for fuzz_shard.c's byte-0 mode: 0, sequences, vocab_size, max_len, then the block
    seqs = [[101, 7, 8, 102], [], [5] * 16]
    raw = b"".join(struct.pack("<I", len(q)) + struct.pack("<%dI" % len(q), *q) for q in seqs)
    put("shard", "raw_block.bin", b"\x00" + struct.pack("<III", len(seqs), 1000, 16) + raw)


# ---- glue: first byte = task index (glue.c order) | 0x80 for a test file, then the TSV
def glue():
    a, b = "The cat sat on the mat .", "A dog , sleeping ."
    rows = {
        0: (None, "gj04\t1\t\t%s\ngj04\t0\t*\t%s\n" % (a, b), "index\tsentence\n0\t%s\n" % a),
        1: ("sentence\tlabel", "%s \t1\n%s \t0\n" % (a, b), "index\tsentence\n0\t%s\n" % a),
        2: ("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String", "1\t1001\t2001\t%s\t%s\n0\t1\t2\t%s\t%s\n" % (a, b, b, a),
            "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\t%s\t%s\n" % (a, b)),
        3: ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
            "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\t%s\t%s\t3.800\n1\tm\tf\ty\t2\tn\tn\t%s\t%s\t0.5\n" % (a, b, b, a),
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n0\tg\tf\ty\t0\tn\tn\t%s\t%s\n" % (a, b)),
        4: ("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", "0\t1\t2\t%s\t%s\t1\n900\t901\tbroken row\n3\t4\t5\t%s\t%s\t0\n" % (a, b, b, a),
            "id\tquestion1\tquestion2\n0\t%s\t%s\n" % (a, b)),
        5: ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label",
            "0\t100\t100e\tfiction\t( a )\t( b )\t(ROOT a)\t(ROOT b)\t%s\t%s\tneutral\tneutral\n" % (a, b),
            "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\n0\t1\t1e\tg\t(a)\t(b)\t(a)\t(b)\t%s\t%s\n" % (a, b)),
        6: ("index\tquestion\tsentence\tlabel", "0\t%s\t%s\tentailment\n1\t%s\t%s\tnot_entailment\n" % (a, b, b, a), "index\tquestion\tsentence\n0\t%s\t%s\n" % (a, b)),
        7: ("index\tsentence1\tsentence2\tlabel", "0\t%s\t%s\tnot_entailment\r\n" % (a, b), "index\tsentence1\tsentence2\n0\t%s\t%s\n" % (a, b)),
        8: ("index\tsentence1\tsentence2\tlabel", "0\t%s\t%s\t1\n" % (a, b), "index\tsentence1\tsentence2\n0\t%s\t%s\n" % (a, b)),
        9: ("index\tsentence1\tsentence2\tlabel", "0\t%s\t%s\tentailment\n" % (a, b), "index\tsentence1\tsentence2\n0\t%s\t%s\n" % (a, b)),
    }
    names = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli", "ax"]
    for k, (hdr, train, test) in rows.items():
        put("glue", names[k] + "-train.tsv", bytes([k]) + ((hdr + "\n") if hdr else "").encode() + train.encode())
        put("glue", names[k] + "-test.tsv", bytes([k | 0x80]) + test.encode())


# ---- scrolls: first byte = 0 ContractNLI, 1 QuALITY, then the JSONL
def scrolls():
    cnli = [{"id": "c1", "pid": "c1_0", "input": "Some obligations survive.\n\nThe contract text. It is long.", "output": "Entailment"},
            {"id": "c2", "pid": "c2_0", "input": "No sharing.\n\nAnother contract.", "output": "Not mentioned"},
            {"id": "c2", "pid": "c2_1", "input": "No sharing.\n\nAnother contract.", "output": "Contradiction"},
            {"id": "c3", "pid": "c3_0", "input": "Test row.\n\nNo answer.", "output": None}]
    quality = [{"id": "q1", "pid": "q1_0", "input": "Why did the \u00c9lan stop?\n\n(A) fuel (B) the war\n(C) rain (D) none of the above\n\nThe article, with an ending.", "output": "the war"},
               {"id": "q1", "pid": "q1_1", "input": "Why did the \u00c9lan stop?\n\n(A) fuel (B) the war\n(C) rain (D) none of the above\n\nThe article, with an ending.", "output": "The war!"}]
    put("scrolls", "contract_nli.jsonl", b"\x00" + "".join(json.dumps(r) + "\n" for r in cnli).encode())
    put("scrolls", "quality.jsonl", b"\x01" + "".join(json.dumps(r) + "\n" for r in quality).encode())


# ---- vocab: the tiny real vocab, and a slice of bert-base's (specials, words, "##" pieces, CJK)
def vocab():
    put("vocab", "flax_mlm-vocab.txt", read("tests", "formats", "flax_mlm", "vocab.txt"))
    lines = read("tests", "tokenizer", "vocab-uncased.txt").split(b"\n")
    pick = lines[:110] + lines[1000:1200] + [l for l in lines if l.startswith(b"##")][:150] + lines[7000:7050]
    put("vocab", "bert-slice.txt", b"\n".join(pick) + b"\n")
    put("vocab", "crlf.txt", b"[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhello \r\n##lo\r\nworld\t\r\n,\r\n##\r\n#")


# ---- tokenizer: byte 0 flags (bit 0 cased, bit 1 pair), byte 1 max_len, then text from the tokenizer fixtures
def tokenizer():
    hard = gzip.decompress(read("tests", "tokenizer", "hard.txt.gz"))
    pairs = gzip.decompress(read("tests", "tokenizer", "pairs.txt.gz"))
    hl = hard.split(b"\n")
    for i, k in enumerate(range(0, min(len(hl), 4000), 500)):
        put("tokenizer", "hard-%d.txt" % i, bytes([i & 1, 0 if i < 4 else 20 + i]) + b"\n".join(hl[k:k + 8])[:3000])
    pl = pairs.split(b"\n")
    for i in range(4):
        put("tokenizer", "pair-%d.txt" % i, bytes([2 | (i & 1), [0, 5, 29, 125][i]]) + b"\n".join(pl[i * 50:i * 50 + 6])[:3000])
    put("tokenizer", "specials.txt", b"\x00\x00[CLS]hello[SEP]world[MASK][mask] [PAD][UNK]x[SEP\xff\xfe\xc3\x28 \xe4\xb8\xad\xe6\x96\x87 caf\xc3\xa9 A\xcc\x8a\x00\x7f")


# ---- regressions: inputs for bugs found by reading the parsers while writing the harnesses. Each must
# be rejected with an error (tests/test_fuzz_regress.c checks every regress-* file of the corpus).
def pk_int(v):
    return b"J" + struct.pack("<i", v) if -2**31 <= v < 2**31 else b"\x8a\x08" + struct.pack("<q", v)


def pickle_tensor(offset, sizes, strides, numel=4):
    tup = lambda xs: b"(" + b"".join(pk_int(x) for x in xs) + b"t"
    return (b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
            b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + pk_int(numel) + b"tQ" + pk_int(offset) + tup(sizes) + tup(strides) +
            b"\x89ccollections\nOrderedDict\n)RtRu.")


def torch_zip(pkl, storage=struct.pack("<4f", 1, 2, 3, 4)):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl", date_time=(2020, 1, 1, 0, 0, 0)), pkl)
        z.writestr(zipfile.ZipInfo("archive/data/0", date_time=(2020, 1, 1, 0, 0, 0)), storage)
    return buf.getvalue()


def shard_fix_crcs(b):  # as fuzz_shard.c does, so the regression reaches the code past the CRC checks
    b = bytearray(b)
    struct.pack_into("<I", b, 56, zlib.crc32(bytes(b[:56])))
    nblocks, index = struct.unpack_from("<I", b, 44)[0], struct.unpack_from("<Q", b, 48)[0]
    if index <= len(b) and index + 24 * nblocks + 4 == len(b):
        for k in range(nblocks):
            off, csize = struct.unpack_from("<QI", b, index + 24 * k)
            if off + csize <= len(b):
                struct.pack_into("<I", b, index + 24 * k + 20, zlib.crc32(bytes(b[off:off + csize])))
        struct.pack_into("<I", b, index + 24 * nblocks, zlib.crc32(bytes(b[index:index + 24 * nblocks])))
    return bytes(b)


def regressions(name):
    if name == "torchzip":
        put(name, "regress-negative-offset.bin", torch_zip(pickle_tensor(-1, [2], [1])))        # read before the storage
        put(name, "regress-broadcast-bomb.bin", torch_zip(pickle_tensor(0, [2**40], [0])))     # a 4 TB copy of 4 floats
        put(name, "regress-stride-overflow.bin", torch_zip(pickle_tensor(0, [3], [2**62])))    # (size-1)*stride wraps
        put(name, "regress-memo-get-negative.bin", torch_zip(b"\x80\x02j\xff\xff\xff\xff."))     # index read as int -1
        put(name, "regress-memo-put-huge.bin", torch_zip(b"\x80\x02}r\x80\x96\x98\x00."))        # an 80 MB memo from 5 bytes
        eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0, 0xFFFFFFFF, 0)
        loc = b"PK\x06\x07" + struct.pack("<IQI", 0, 2**64 - 40, 1)                           # z64 + 56 wraps to 16
        put(name, "regress-zip64-wrap.bin", b"\x00" * 16 + loc + eocd)
    if name == "flax":
        leaf32, leaf64 = mp_array_leaf([1], "float32", struct.pack("<f", 1)), mp_array_leaf([1], "float64", struct.pack("<d", 1))
        chunked = lambda chunks: (b"\x83" + mp_str("__msgpack_chunked_array__") + b"\xc3" + mp_str("shape") + b"\x81" + mp_str("0") +
                                  b"\x03" + mp_str("chunks") + bytes([0x80 | len(chunks)]) + b"".join(mp_str(k) + v for k, v in chunks))
        put(name, "regress-missing-chunk.msgpack", b"\x81" + mp_str("w") + chunked([("1", leaf32)]))
        put(name, "regress-mixed-chunk-dtypes.msgpack", b"\x81" + mp_str("w") + chunked([("0", leaf64), ("1", leaf32)]))
        dims = b"".join(b"\xcf" + struct.pack(">Q", 2**40) for _ in range(8))
        payload = bytes([0x93, 0x98]) + dims + mp_str("float32") + b"\xc4\x00"
        put(name, "regress-shape-overflow.msgpack", b"\x81" + mp_str("w") + b"\xc7" + bytes([len(payload), 1]) + payload)
    if name == "shard":
        good = bytearray(shard_file([[1, 2, 3]]))
        nseq = bytearray(good)
        index = struct.unpack_from("<Q", nseq, 48)[0]
        struct.pack_into("<I", nseq, index + 16, 0xFFFFFFFF)                                     # 4 G sequences in a block
        struct.pack_into("<Q", nseq, 28, 0xFFFFFFFF)
        put(name, "regress-nseqs-bomb.bin", shard_fix_crcs(nseq))
        wrap = bytearray(good)
        nb = 0x10000000
        struct.pack_into("<I", wrap, 44, nb)                                                    # index_off + 24 n + 4 wraps
        struct.pack_into("<Q", wrap, 48, (len(wrap) - 24 * nb - 4) % 2**64)
        put(name, "regress-index-wrap.bin", shard_fix_crcs(wrap))
        # found by fuzz_shard: 3 sequences whose first one fills the whole block wrote past the ids buffer
        over = shard_file([], blocks=[(struct.pack("<6I", 5, 5, 5, 5, 5, 5), 3)])
        put(name, "regress-seq-overrun.bin", over)
        # found by fuzz_shard: a vocab_size over 2^31 let ids through that became negative as int32
        put(name, "regress-vocab-over-int32.bin", shard_file([[0x80000001]], vocab=0x80000000 + 5))


if __name__ == "__main__":
    for name, fn in [("config", config), ("safetensors", safetensors), ("flax", flax), ("torchzip", torchzip), ("shard", shard),
                     ("glue", glue), ("scrolls", scrolls), ("vocab", vocab), ("tokenizer", tokenizer)]:
        d = os.path.join(OUT, name)
        for f in os.listdir(d) if os.path.isdir(d) else []:  # regress-* inputs saved from findings stay
            if not f.startswith("regress-"):
                os.remove(os.path.join(d, f))
        fn()
        regressions(name)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("corpus: %d files, %d bytes" % (sum(len(fs) for _, _, fs in os.walk(OUT)), total))
