"""What limits become: recasts to other models and couplings, plots, HEPData
records, limit files in the field's formats, and physics summaries.
"""
