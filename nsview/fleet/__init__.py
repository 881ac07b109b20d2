"""Collect many hosts: the user's own ssh (or kubectl) runs nsview's collector on
each node and brings its snapshot back. No agent, no protocol of nsview's own:
the collector travels as a zip of nsview's source over the channel's stdin and
its snapshot comes back as JSON on stdout. docs/fleet.md."""
