"""clickintent: from financial-services clickstreams to session embeddings and intent labels."""

__version__ = "0.1.0"
