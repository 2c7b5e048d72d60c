"""Zero-shot ImageNet classification for CLIP-family models: tokenizer, prompts, class-embedding heads."""
