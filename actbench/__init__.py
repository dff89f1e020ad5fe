"""actbench: which activation function should I use here, and what does it do to my network?"""

__version__ = "0.1.0"
