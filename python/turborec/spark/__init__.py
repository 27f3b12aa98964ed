"""Scale-out on Apache Spark with turborec's C++ kernels (optional extra: ``pip install 'turborec[spark]'``).

Inputs are Spark DataFrames of (user, item[, rating]) with raw ids; outputs are Spark DataFrames
or ordinary turborec models. The kernels run inside the executors' Python workers (the GIL
released, ``spark.task.cpus`` threads per task).

- :func:`fit_matrix_factorization`: distributed SGD (DSGD) biased MF or BPR -> a fitted
  :class:`turborec.MatrixFactorization` (save / load / serve it as usual).
- :func:`item_similarity` / :func:`user_similarity`: top-k neighbours by block pairs, equal to
  :func:`turborec.similarity.topk_similarity`.
- :func:`recommend_all`: top-k for every user from any fitted model, shipped to executors as bytes.
- :func:`index_interactions`: raw ids -> dense ids consistent with :class:`turborec.IdMap`.
- :func:`local_session`: a local SparkSession whose workers run this interpreter.
"""

from .checks import check_interactions
from .dsgd import fit_matrix_factorization
from .errors import SparkTaskError
from .ids import IndexedInteractions, index_interactions
from .recommend import collect_recommendations, recommend_all
from .session import local_session
from .similarity import item_similarity, user_similarity

__all__ = ["IndexedInteractions", "SparkTaskError", "check_interactions", "collect_recommendations",
           "fit_matrix_factorization", "index_interactions", "item_similarity", "local_session", "recommend_all",
           "user_similarity"]
