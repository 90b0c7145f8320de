#!/usr/bin/env bash
# Rebuild the example reports in reports/ from the real data in ../shared/reference (issue 3's proof on
# real data). Run from the repository root after installing mmbio; the commands are the README's.
set -euo pipefail
S=${MMBIO_SHARED_REFERENCE:-../shared/reference}
ONLY=${1:-all}   # 'measured' rebuilds reports 1-3 only (no rollout)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1764028800}   # fixed PDF dates: rebuilds differ only where results do

# 1. A healthy adult walking at self-selected speed (Schreiber C4) against children's norms at free speed
#    (joint angles from mmbio's marker IK, MyoFullBody scaled to the subject's static trial)
mmbio validate "$S/schreiber2019/2014001/2014001_C4_05.c3d" --static "$S/schreiber2019/2014001/2014001_ST.c3d" \
    --reference schwartz2008:free --output reports/schreiber2019_2014001_C4_vs_schwartz2008_free --overwrite || test $? -eq 1
# 2. The same trial against another adult (Rajagopal 2016 walk)
mmbio validate "$S/schreiber2019/2014001/2014001_C4_05.c3d" --static "$S/schreiber2019/2014001/2014001_ST.c3d" \
    --reference rajagopal2016_walk:free --output reports/schreiber2019_2014001_C4_vs_rajagopal2016_walk --overwrite \
    || test $? -eq 1
# 3. Human vs human EMG: the Rajagopal walk's own EMG against the Santuz treadmill envelopes
mmbio validate "$S/rajagopal2016_walk/coordinates.sto" --grf "$S/rajagopal2016_walk/grf_walk.mot" \
    --emg "$S/rajagopal2016_walk/electromyography.sto" --mass 85.3 \
    --reference schwartz2008:free --emg-reference santuz2020_emg:treadmill --protocol emg \
    --output reports/rajagopal2016_walk_emg_vs_santuz2020 --overwrite || test $? -eq 1
[ "$ONLY" = measured ] && { rm -f reports/*/mmbio-run.json reports/*/.mmbio.lock; exit 0; }
# 4. The main job: the demo checkpoint (muscle tracking controller, MyoFullBody walking on MuJoCo contacts),
#    rolled out on the CPU for 3 gait cycles, against the walking protocol (its default for a simulated walk:
#    adult walking, schreiber2019 at the nearest speed); the PDF is reports/example_tracking_walk.pdf
mmbio validate checkpoints/tracking_walk.pkl --output reports/example_tracking_walk --overwrite || test $? -eq 1
mv reports/example_tracking_walk/report.pdf reports/example_tracking_walk.pdf
# 5. Subject-specific: subject 2014001's own C4 trial (scaled marker IK, its events) tracked by the muscle controller,
#    validated against that subject's own curves and EMG (schreiber2019:c4/2014001, the checkpoint's default)
CK=s2014001.pkl   # in the working folder: the report names it
mmbio track "$S/schreiber2019/2014001/2014001_C4_05.c3d" --static "$S/schreiber2019/2014001/2014001_ST.c3d" -o "$CK"
mmbio validate "$CK" --output reports/subject_2014001_tracking_vs_own_emg --overwrite || test $? -eq 1
rm -f "$CK"
# 6. Muscles only: the same stride tracked with no root residual and no reserve (checkpoints/build.py --muscles-only:
#    the receding-horizon muscle planner and lateral foot placement at 2 ms; ≈ 8 min on 2 cores)
mmbio validate checkpoints/tracking_walk_muscles.pkl --output reports/example_muscles_only_walk --overwrite || test $? -eq 1
mv reports/example_muscles_only_walk/report.pdf reports/example_muscles_only_walk.pdf
# the run records (mmbio-run.json: this machine's absolute input paths) and locks are not part of the examples
rm -f reports/*/mmbio-run.json reports/*/.mmbio.lock
