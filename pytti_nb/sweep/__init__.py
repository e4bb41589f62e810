"""Sweeps: many renders of one base's variations (grids, zipped lists, seeds, values that follow
others), each an independent, resumable render on Ray, with a manifest and a contact sheet.

spec (the sweep file) · checks (every render checked first) · naming (run folder names) ·
worker (one render) · pool (Ray workers that keep models loaded) · runner (the sweep on Ray) ·
manifest · sheet (the contact sheet) · command (the `sweep` subcommand) · studio (small sweeps)
"""
