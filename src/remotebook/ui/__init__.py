"""The screen: the click group and its commands, the live view, prompts, the browser, completion."""
