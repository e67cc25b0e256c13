"""Search spaces written as plain PyTorch models with choice points (`search_spaces.model_space`)."""
