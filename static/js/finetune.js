/* Fine-tune page: each job's progress bar, loss curves and log tail, polled every 2 s while it is
   pending, queued or running (once for finished jobs). No dependencies. */
(function () {
  "use strict";

  var ACTIVE = ["pending", "queued", "running"];

  function follow(job) {
    var url = job.getAttribute("data-progress-url");
    var bar = job.querySelector(".meter-bar");
    var fill = bar.querySelector("span");
    var badge = job.querySelector(".job-state");
    var log = job.querySelector(".log-lines");
    var curve = job.querySelector(".loss-curve");
    var after = 0;

    function draw(loss) {
      if (!curve || !loss) return;
      curve.querySelector(".loss-train").setAttribute("points", loss.train);
      curve.querySelector(".loss-eval").setAttribute("points", loss.eval);
      curve.querySelector(".loss-first").textContent = loss.first;
      curve.querySelector(".loss-last").textContent = loss.last;
      curve.querySelector("svg").setAttribute(
        "aria-label", "Loss by step: train " + loss.first + " to " + loss.last);
      curve.hidden = false;
    }

    function poll() {
      fetch(url + "?after=" + after, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) return;
          fill.style.width = data.progress + "%";
          bar.setAttribute("aria-valuenow", data.progress);
          badge.textContent = data.state;
          badge.className = "badge job-state state-" + data.state;
          draw(data.lossCurve);
          if (data.state === "succeeded" && job.getAttribute("data-state") !== "succeeded" &&
              !data.modelName) window.setTimeout(function () { window.location.reload(); }, 500);
          job.setAttribute("data-state", data.state);
          data.lines.forEach(function (line) {
            var item = document.createElement("li");
            item.className = "level-" + line.level;
            item.textContent = line.time.slice(11, 19) + "  " + line.message;
            log.appendChild(item);
            after = line.id;
          });
          if (data.lines.length) log.scrollTop = log.scrollHeight;
          if (ACTIVE.indexOf(data.state) !== -1) window.setTimeout(poll, 2000);
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    poll();
  }

  document.querySelectorAll(".job[data-progress-url]").forEach(follow);
})();
