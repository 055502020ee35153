"""Work on a fitted result without refitting where that is valid.

Fast updates, hypothetical evidence, and the explorer's library functions (the Streamlit app only lays these out).
"""
