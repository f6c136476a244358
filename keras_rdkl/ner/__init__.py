"""keras_rdkl.ner: build, train and score span taggers (GlobalPointer or CRF heads) from scratch."""

from keras_rdkl.ner import tagging
from keras_rdkl.ner.bert import AddSpecialTokens
from keras_rdkl.ner.bert import bert_vocabulary
from keras_rdkl.ner.bert import build_bert_tagger
from keras_rdkl.ner.builder import HEADS
from keras_rdkl.ner.builder import build_span_tagger
from keras_rdkl.ner.builder import find_crf
from keras_rdkl.ner.builder import register_head
from keras_rdkl.ner.builder import tagger_loss
from keras_rdkl.ner.builder import target_kind
from keras_rdkl.ner.callbacks import EntityF1Callback
from keras_rdkl.ner.data import PAD
from keras_rdkl.ner.data import UNK
from keras_rdkl.ner.data import WORD_SHAPES
from keras_rdkl.ner.data import SpanBatches
from keras_rdkl.ner.data import Vocabulary
from keras_rdkl.ner.data import index_spans
from keras_rdkl.ner.data import merge_windows
from keras_rdkl.ner.data import split_marks
from keras_rdkl.ner.data import split_windows
from keras_rdkl.ner.data import word_shape
from keras_rdkl.ner.encoders import ENCODERS
from keras_rdkl.ner.encoders import CharCNN
from keras_rdkl.ner.encoders import PaddingMask
from keras_rdkl.ner.encoders import TokenDropout
from keras_rdkl.ner.encoders import ZeroPadding
from keras_rdkl.ner.encoders import bilstm_encoder
from keras_rdkl.ner.encoders import idcnn_encoder
from keras_rdkl.ner.encoders import transformer_encoder
from keras_rdkl.ner.gazetteer import Gazetteer
from keras_rdkl.ner.optimizers import ScaledAdamW
from keras_rdkl.ner.optimizers import WarmupLinearDecay
from keras_rdkl.ner.optimizers import fine_tuning_optimizer
from keras_rdkl.ner.predict import predict_entities
from keras_rdkl.ner.predict import predict_spans
from keras_rdkl.ner.pretrained import build_pretrained_tagger
from keras_rdkl.ner.saving import load_tagger
from keras_rdkl.ner.saving import save_tagger
from keras_rdkl.ner.scoring import entity_scores
from keras_rdkl.ner.scoring import format_scores
from keras_rdkl.ner.serving import TopSpans
from keras_rdkl.ner.serving import build_serving_model
from keras_rdkl.ner.serving import export_model
from keras_rdkl.ner.serving import export_tagger
from keras_rdkl.ner.subwords import SubwordBatches
from keras_rdkl.ner.subwords import SubwordTokenizer
from keras_rdkl.ner.subwords import WordPieces
from keras_rdkl.ner.subwords import predict_subword_entities
from keras_rdkl.ner.subwords import predict_subword_spans
from keras_rdkl.ner.tokens import tokenize
from keras_rdkl.ner.vectors import embedding_matrix
from keras_rdkl.ner.vectors import load_word_vectors
from keras_rdkl.ner.vectors import save_word_vectors

__all__ = [
    "AddSpecialTokens",
    "ENCODERS",
    "HEADS",
    "PAD",
    "UNK",
    "WORD_SHAPES",
    "CharCNN",
    "EntityF1Callback",
    "Gazetteer",
    "PaddingMask",
    "ScaledAdamW",
    "SpanBatches",
    "SubwordBatches",
    "SubwordTokenizer",
    "TokenDropout",
    "TopSpans",
    "Vocabulary",
    "WarmupLinearDecay",
    "WordPieces",
    "ZeroPadding",
    "bert_vocabulary",
    "bilstm_encoder",
    "build_serving_model",
    "build_bert_tagger",
    "build_pretrained_tagger",
    "build_span_tagger",
    "embedding_matrix",
    "entity_scores",
    "export_model",
    "export_tagger",
    "find_crf",
    "fine_tuning_optimizer",
    "format_scores",
    "idcnn_encoder",
    "index_spans",
    "load_tagger",
    "load_word_vectors",
    "merge_windows",
    "predict_entities",
    "predict_spans",
    "predict_subword_entities",
    "predict_subword_spans",
    "register_head",
    "save_tagger",
    "save_word_vectors",
    "split_marks",
    "split_windows",
    "tagger_loss",
    "tagging",
    "target_kind",
    "tokenize",
    "transformer_encoder",
    "word_shape",
]
