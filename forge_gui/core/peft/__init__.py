"""Hugging Face PEFT adapters: turned into GGUF LoRAs for llama.cpp without torch (convert.py)."""
