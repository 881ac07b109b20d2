"""The interactive view (Textual). The only package that imports textual."""
