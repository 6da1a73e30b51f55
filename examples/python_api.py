# %% [markdown]
# # sbrt-qa from Python
#
# A notebook-style walk through the Python API on the demo plan shipped with the package
# (a thoracic spine SBRT plan, 30 and 35 Gy in 5 fractions, for the trial NCT06863584).
# Each `# %%` cell runs as a notebook cell in Jupyter, VS Code or Spyder; the test suite
# runs the whole file (tests/test_api_check.py). Replace `from_demo()` with
# `from_folder("export/")` for your own plan.

# %%
from sbrt_qa import PlanQA

qa = PlanQA.from_demo()
print(qa)
for s in qa.structures:
    print(f"{s.roi_number:3d}  {s.name:12s} {s.type or '-':9s} {s.geometry}")

# %% [markdown]
# ## DVH of one structure
# Look-ups are TG-263 metrics; units are always written out.

# %%
ptv = qa.dvh("PTV_3500")
print(ptv.describe())
print("D95%  =", round(ptv.dose_at("95%"), 2), "Gy")
print("V35Gy =", round(ptv.volume_at("35Gy", unit="%"), 1), "%")
cord = qa.dvh("SpinalCord")
print("cord D0.035cc =", round(cord.dose_at("0.035cc"), 2), "Gy")

fig = ptv.plot()          # a matplotlib Figure; the backend is never changed
cord.plot(ax=fig.axes[0])  # overlay another structure
fig.savefig("sbrt-qa-demo-dvh.png")

# %% [markdown]
# ## Metrics for every structure

# %%
table = qa.metrics(["D95%[Gy]", "D0.035cc[Gy]", "V20Gy[%]"])
print(table.to_frame().to_string(index=False))

# %% [markdown]
# ## Check against the trial protocol, and publish

# %%
result = qa.check(protocol="nct06863584")
print(result.status, "-", result.provenance.tool_version, result.provenance.date_of_analysis)
frame = result.to_frame()
print(frame[frame["status"] != "pass"][["kind", "id", "structure", "value", "unit", "goal", "status"]].head(10).to_string(index=False))
data = result.results_data(as_dict=True)   # the plan entry of `sbrt-qa check --format json`
print(data["protocol"]["arm"], len(data["results"]), "constraints")
for target, idx in result.indices.items():  # typed SBRT indices, unrounded
    print(f"{target}: R100% {idx.r100:.3f}, Paddick CI {idx.paddick_ci:.3f}, R50% {idx.r50:.2f}")
print("Python warnings while reading and checking:", list(result.provenance.warnings) or "none")
result.publish_html("sbrt-qa-demo.html")
result.publish_pdf("sbrt-qa-demo.pdf")

# %% [markdown]
# The same DVHs serve a second protocol (they are computed once per plan).

# %%
print(qa.check(protocol="tg101-5fx").status)
