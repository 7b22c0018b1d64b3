"""Sinks: where pictures and numbers go (TensorBoard, other loggers, files)."""

from lightning_xai.sinks.background import BackgroundWriter
from lightning_xai.sinks.base import Sink
from lightning_xai.sinks.files import FileSink
from lightning_xai.sinks.logger import LoggerSink
from lightning_xai.sinks.select import select_sinks
from lightning_xai.sinks.tensorboard import TensorBoardSink

__all__ = ["BackgroundWriter", "FileSink", "LoggerSink", "Sink", "TensorBoardSink", "select_sinks"]
